"""Tolerant models, dates and chunking helpers (EMAG_API.md §3, §4, §5, gotcha 16-19)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from magflow.emag import chunk_entities, count_input_vars, format_emag_datetime, platform_info
from magflow.emag.dates import parse_emag_datetime
from magflow.emag.errors import is_documentation_error
from magflow.emag.metrics import metric_route
from magflow.emag.schemas import (
    Category,
    CountResult,
    EanProduct,
    Locality,
    Offer,
    Order,
    Rma,
)

SOFIA = ZoneInfo("Europe/Sofia")
BUCHAREST = ZoneInfo("Europe/Bucharest")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-07-01 10:00:00", datetime(2024, 7, 1, 7, 0, tzinfo=UTC)),
        ("2024-01-01 10:00:00", datetime(2024, 1, 1, 8, 0, tzinfo=UTC)),
        ("2024-01-01", datetime(2023, 12, 31, 22, 0, tzinfo=UTC)),
        ("2024-01-01 10:00:00.250000", datetime(2024, 1, 1, 8, 0, 0, 250000, tzinfo=UTC)),
        ("2024-01-01T10:00:00+00:00", datetime(2024, 1, 1, 10, 0, tzinfo=UTC)),
        (
            {"date": "2025-04-21 00:00:00.000000", "timezone_type": 3, "timezone": "Europe/Sofia"},
            datetime(2025, 4, 20, 21, 0, tzinfo=UTC),
        ),
    ],
)
def test_dates_are_platform_local(text: object, expected: datetime) -> None:
    parsed = parse_emag_datetime(text, BUCHAREST)
    assert parsed == expected and parsed is not None and parsed.tzinfo is not None


@pytest.mark.parametrize("text", [None, "", "0000-00-00 00:00:00", []])
def test_empty_dates_are_none(text: object) -> None:
    assert parse_emag_datetime(text) is None


def test_filter_formatting_converts_to_platform_local() -> None:
    aware = datetime(2024, 7, 1, 7, 0, 5, tzinfo=UTC)
    assert format_emag_datetime(aware, SOFIA) == "2024-07-01 10:00:05"
    assert format_emag_datetime(aware, platform_info("hu").tz) == "2024-07-01 09:00:05"
    assert format_emag_datetime(datetime(2024, 7, 1, 10, 0), SOFIA) == "2024-07-01 10:00:00"
    assert format_emag_datetime(date(2024, 7, 1)) == "2024-07-01"
    # round trip
    text = format_emag_datetime(aware, SOFIA)
    assert parse_emag_datetime(text, SOFIA) == aware


def test_parse_uses_context_tz_and_default() -> None:
    row = {"id": 1, "date": "2024-07-01 10:00:00"}
    assert Order.parse(row, SOFIA).date == datetime(2024, 7, 1, 7, tzinfo=UTC)
    assert Order.model_validate(row).date == datetime(2024, 7, 1, 7, tzinfo=UTC)  # Bucharest
    assert Order.parse(row, ZoneInfo("Europe/Budapest")).date == datetime(2024, 7, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value", "expected_id", "expected_name"),
    [
        ("reason_cancellation", 15, 15, None),
        ("reason_cancellation", "3", 3, None),
        ("reason_cancellation", {"id": "2", "name": "By client"}, 2, "By client"),
        ("reason_cancellation", {"id": None, "name": None}, None, None),
        ("cancellation_reason", 1, 1, None),
        ("cancellation_reason", {"id": 43, "name": "Other"}, 43, "Other"),
        ("reason_cancellation", None, None, None),
        ("reason_cancellation", [], None, None),
    ],
)
def test_both_cancellation_field_names(
    field: str, value: object, expected_id: int | None, expected_name: str | None
) -> None:
    order = Order.parse({"id": 1, field: value})
    assert order.cancellation_reason_id == expected_id
    if expected_name:
        assert order.reason_cancellation is not None
        assert order.reason_cancellation.name == expected_name


def test_empty_list_objects_and_nulls() -> None:
    rma = Rma.parse({"emag_id": "5", "locker": [], "products": None, "pickup_date": None})
    assert rma.locker == {} and rma.products == [] and rma.pickup_date is None
    rma2 = Rma.parse({"emag_id": 5, "locker": {"locker_hash": "h", "locker_pin": "1"}})
    assert rma2.locker["locker_pin"] == "1"
    order = Order.parse({"id": 1, "customer": [], "details": None, "vouchers": None})
    assert order.customer is not None and order.customer.id is None
    assert order.details is None and order.vouchers == []


def test_php_arrays_as_objects_become_lists() -> None:
    order = Order.parse({"id": 1, "products": {"0": {"id": 1}, "3": {"id": 2}}})
    assert [p.id for p in order.products] == [1, 2]


def test_string_numbers_everywhere() -> None:
    offer = Offer.parse(
        {"id": "9", "sale_price": "1.2345", "warranty": "24", "status": "1", "vat_id": 1.0}
    )
    assert (offer.id, offer.sale_price, offer.warranty, offer.status, offer.vat_id) == (
        9,
        Decimal("1.2345"),
        24,
        1,
        1,
    )
    with pytest.raises(ValueError):
        Offer.parse({"id": "9", "warranty": "twelve"})


def test_unknown_fields_and_raw_are_kept() -> None:
    row = {"id": 3, "name": "X", "brand_new": [1, 2], "characteristics": []}
    category = Category.parse(row)
    assert category.raw is row or category.raw == row
    assert category.model_extra == {"brand_new": [1, 2]}
    nested = Order.parse({"id": 1, "customer": {"id": 2, "x": "y"}})
    assert nested.customer is not None and nested.customer.raw == {"id": 2, "x": "y"}


def test_locality_country_rename_and_ean_alias() -> None:
    assert Locality.parse({"emag_id": 1, "country": "RO"}).country_code == "RO"
    assert EanProduct.parse({"ean": 1, "allow_to_add_offer": 1}).allowed_to_add_offer is True
    assert (
        EanProduct.parse({"ean": "1", "allowed_to_add_offer": False}).allowed_to_add_offer is False
    )


def test_count_pages() -> None:
    assert CountResult.parse({"noOfItems": "0", "noOfPages": "0"}).pages(100) == 0
    assert CountResult.parse({"noOfItems": "101"}).pages(50) == 3
    assert CountResult.parse({"noOfPages": "4", "itemsPerPage": "100"}).pages(100) == 4
    assert CountResult.parse({"noOfPages": "4", "itemsPerPage": "100"}).pages(50) is None
    assert CountResult.parse([]).pages(100) is None


# --- chunking (§3) -------------------------------------------------------------------------------


def test_count_input_vars_php_style() -> None:
    entity = {
        "id": 1,
        "stock": [{"warehouse_id": 1, "value": 3}],
        "images": [],
        "family": {},
        "name": "x",
    }
    # id, stock[0][warehouse_id], stock[0][value], images (1), family (1), name
    assert count_input_vars(entity) == 6
    assert count_input_vars([entity, entity]) == 12


def test_chunk_entities_limits() -> None:
    small = [{"id": i} for i in range(120)]
    assert [len(c) for c in chunk_entities(small)] == [50, 50, 20]
    heavy = [{"id": i, "c": list(range(999))} for i in range(10)]  # 1000 vars each
    chunks = chunk_entities(heavy)
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert all(count_input_vars(c) <= 4000 for c in chunks)
    assert [e["id"] for c in chunks for e in c] == list(range(10))
    with pytest.raises(ValueError, match="4001 input vars"):
        chunk_entities([{"id": 1, "c": list(range(4000))}])
    assert chunk_entities([]) == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("characteristic with id 123 is not attached to template", True),
        ("value of characteristic with id 6506 must be numeric", True),
        ("Mktp Family: invalid family type id,", True),
        ("user_message: Photo Gallery Validation - No valid images have been found.", True),
        ("template does not exist in doc application", True),
        ("part number is invalid", True),
        ("photo_gallery array is empty", True),
        ("Locale ro_BG doesn't exist for characteristic with id: 789", True),
        ("Please provide product characteristic values for the given family type", True),
        ("sale_price must be between min_sale_price and max_sale_price", False),
        ("Maximum input vars of 4000 exceeded", False),
    ],
)
def test_documentation_error_recognition(message: str, expected: bool) -> None:
    assert is_documentation_error(message) is expected


def test_metric_route_normalises_ids() -> None:
    assert metric_route("order/acknowledge/123") == "order/acknowledge/{id}"
    assert metric_route("offer_stock/77") == "offer_stock/{id}"
    assert metric_route("order/55/unlock-courier") == "order/{id}/unlock-courier"
    assert metric_route("product_offer/read") == "product_offer/read"
