"""Local validation of an offer change and the ``offer/save`` item it becomes (no I/O).

The rules are docs/emag-protocol.md, "Offers"; each refusal's message is what the user reads
on the bulk item, so the messages are asserted whole.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from magflow.bulk.validation import (
    CurrentPrices,
    jsonable,
    offer_payload,
    published_stock,
    validate_changes,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", Decimal("12.5")),
        (" 12,5 ", Decimal("12.5")),  # a decimal comma, as spreadsheets in Romania write it
        (7, Decimal(7)),
        (0.5, Decimal("0.5")),
        (Decimal("0.0001"), Decimal("0.0001")),  # 4 decimals: the most allowed
        ("1.23450", Decimal("1.2345")),  # trailing zeros are not decimals
        ("99999999", Decimal("99999999")),  # the largest price
    ],
)
def test_prices_accepted(value: Any, expected: Decimal) -> None:
    changes, errors = validate_changes({"sale_price": value}, None)
    assert (changes, errors) == ({"sale_price": expected}, [])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "sale_price must be a number"),
        ("abc", "sale_price must be a number, got 'abc'"),
        ("NaN", "sale_price must be a number, got 'NaN'"),
        ("Infinity", "sale_price must be a number, got 'Infinity'"),
        ("0", "sale_price must be greater than 0"),
        (-1, "sale_price must be greater than 0"),
        ("100000000", "sale_price is too large"),
        ("1.00001", "sale_price can have at most 4 decimals"),
    ],
)
def test_prices_refused(value: Any, message: str) -> None:
    changes, errors = validate_changes({"sale_price": value}, None)
    assert (changes, errors) == ({}, [message])


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("stock", 0, 0),
        ("stock", "65535", 65535),
        ("stock", 5.0, 5),
        ("stock", " 7 ", 7),
        ("stock", Decimal("3"), 3),
        ("handling_time", 255, 255),
        ("handling_time", "0", 0),
        ("status", 0, 0),
        ("status", "2", 2),
        ("vat_id", 1, 1),
        ("vat_id", 2**31 - 1, 2**31 - 1),
    ],
)
def test_whole_numbers_accepted(name: str, value: Any, expected: int) -> None:
    assert validate_changes({name: value}, None) == ({name: expected}, [])


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("stock", 5.5, "stock must be a whole number (no decimals), got 5.5"),
        ("stock", "5.5", "stock must be a whole number (no decimals), got '5.5'"),
        ("stock", "five", "stock must be a whole number (no decimals), got 'five'"),
        ("stock", "Infinity", "stock must be a whole number (no decimals), got 'Infinity'"),
        ("stock", True, "stock must be a whole number (no decimals), got True"),
        ("stock", [1], "stock must be a whole number (no decimals), got [1]"),
        ("stock", -1, "stock should be 0 or more"),
        ("stock", 65536, "stock should be at most 65535"),
        ("handling_time", 256, "handling_time should be at most 255"),
        ("status", 3, "status should be at most 2"),
        ("status", -1, "status should be 0 or more"),
        ("vat_id", 0, "vat_id should be 1 or more"),
        ("vat_id", 2**31, f"vat_id should be at most {2**31 - 1}"),
    ],
)
def test_whole_numbers_refused(name: str, value: Any, message: str) -> None:
    assert validate_changes({name: value}, None) == ({}, [message])


def test_blank_cells_change_nothing_and_an_item_must_change_something() -> None:
    nothing = (
        "nothing to change: give at least one of sale_price, min_sale_price, max_sale_price, "
        "recommended_price, stock, handling_time, status, vat_id"
    )
    assert validate_changes({}, None) == ({}, [nothing])
    blank = {"sale_price": " ", "stock": "", "handling_time": None, "status": "\t", "vat_id": ""}
    assert validate_changes(blank, None) == ({}, [nothing])
    # Every field is read, and the good ones are kept beside the errors of the others.
    everything = {
        "sale_price": "10",
        "min_sale_price": "5",
        "max_sale_price": "20",
        "recommended_price": "15",
        "stock": "3",
        "handling_time": "2",
        "status": "1",
        "vat_id": "4",
    }
    assert validate_changes(everything, None) == (
        {
            "sale_price": Decimal(10),
            "min_sale_price": Decimal(5),
            "max_sale_price": Decimal(20),
            "recommended_price": Decimal(15),
            "stock": 3,
            "handling_time": 2,
            "status": 1,
            "vat_id": 4,
        },
        [],
    )
    changes, errors = validate_changes({"stock": "x", "handling_time": "1", "vat_id": "2"}, None)
    assert changes == {"handling_time": 1, "vat_id": 2}
    assert errors == ["stock must be a whole number (no decimals), got 'x'"]


CURRENT = CurrentPrices(
    sale_price=Decimal(50),
    min_sale_price=Decimal(40),
    max_sale_price=Decimal(60),
    recommended_price=Decimal(70),
)


@pytest.mark.parametrize(
    ("item", "errors"),
    [
        # Bounds are inclusive for the sale price, strict for max > min and recommended > sale.
        ({"sale_price": "40"}, []),
        ({"sale_price": "60"}, []),
        ({"sale_price": "39.99"}, ["sale_price 39.99 is lower than min_sale_price 40"]),
        ({"sale_price": "60.01"}, ["sale_price 60.01 is greater than max_sale_price 60"]),
        (
            {"max_sale_price": "50", "min_sale_price": "50", "sale_price": "50"},
            ["max_sale_price 50 must be greater than min_sale_price 50"],
        ),
        ({"recommended_price": "50"}, ["recommended_price 50 must be greater than sale_price 50"]),
        ({"recommended_price": "50.01"}, []),
        # The stored values stand in for the fields the item leaves alone.
        ({"min_sale_price": "55"}, ["sale_price 50 is lower than min_sale_price 55"]),
        ({"max_sale_price": "45"}, ["sale_price 50 is greater than max_sale_price 45"]),
        (
            {"max_sale_price": "40"},
            [
                "max_sale_price 40 must be greater than min_sale_price 40",
                "sale_price 50 is greater than max_sale_price 40",
            ],
        ),
        (
            {"sale_price": "70"},
            [
                "sale_price 70 is greater than max_sale_price 60",
                "recommended_price 70 must be greater than sale_price 70",
            ],
        ),
    ],
)
def test_prices_against_each_other_and_the_stored_ones(
    item: dict[str, Any], errors: list[str]
) -> None:
    assert validate_changes(item, CURRENT)[1] == errors


def test_without_stored_prices_only_the_given_ones_are_compared() -> None:
    assert validate_changes({"sale_price": "5"}, None) == ({"sale_price": Decimal(5)}, [])
    assert validate_changes({"min_sale_price": "5", "max_sale_price": "4"}, None)[1] == [
        "max_sale_price 4 must be greater than min_sale_price 5"
    ]
    assert validate_changes({"sale_price": "5", "recommended_price": "5"}, None)[1] == [
        "recommended_price 5 must be greater than sale_price 5"
    ]
    # A stock change needs no price check, even against stored prices that are out of order.
    broken = CurrentPrices(sale_price=Decimal(1), min_sale_price=Decimal(5))
    assert validate_changes({"stock": 1}, broken) == ({"stock": 1}, [])


def test_published_stock_keeps_the_buffer_back_and_never_goes_below_zero() -> None:
    assert published_stock(10, 3) == 7
    assert published_stock(2, 3) == 0
    assert published_stock(10, -5) == 10  # a negative buffer adds nothing
    assert published_stock(10, 0) == 10


def test_the_offer_save_item() -> None:
    changes = {
        "sale_price": Decimal("12.50"),
        "min_sale_price": Decimal("10"),
        "max_sale_price": Decimal("20.0"),
        "recommended_price": Decimal("25.1234"),
        "stock": 9,
        "handling_time": 2,
        "status": 1,
        "vat_id": 4,
    }
    assert offer_payload(77, changes, stock_buffer=4) == {
        "id": 77,
        "sale_price": 12.5,
        "min_sale_price": 10,
        "max_sale_price": 20,
        "recommended_price": 25.1234,
        "stock": [{"warehouse_id": 1, "value": 5}],
        "handling_time": [{"warehouse_id": 1, "value": 2}],
        "status": 1,
        "vat_id": 4,
    }
    payload = offer_payload(5, {"stock": "3"}, stock_buffer=0)
    assert payload == {"id": 5, "stock": [{"warehouse_id": 1, "value": 3}]}
    assert isinstance(payload["stock"][0]["value"], int)
    assert offer_payload(5, {"status": "0"}, 0) == {"id": 5, "status": 0}
    # What eMAG reads: a whole price as a whole JSON number, without a trailing ".0".
    prices = {"sale_price": Decimal("20.00"), "max_sale_price": Decimal("20.5")}
    assert json.dumps(offer_payload(5, prices, 0)) == (
        '{"id": 5, "sale_price": 20, "max_sale_price": 20.5}'
    )
    assert jsonable({"sale_price": Decimal("12.50"), "stock": 3}) == {
        "sale_price": "12.50",
        "stock": 3,
    }
