"""The typed answers, dates and chunking helpers (docs/emag-protocol.md, "Rate and size limits",
"Paging, counts and filters", "Offers", "Orders", "PHP serialization quirks",
"Dates and time zones")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from magflow.emag import chunk_entities, count_input_vars, format_emag_datetime, platform_info
from magflow.emag.dates import parse_emag_datetime
from magflow.emag.metrics import metric_route
from magflow.emag.schemas import AwbSaveResult, CountResult, CourierAccount, OfferItemResult

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


def test_typed_answers_read_dates_in_the_given_zone() -> None:
    row = {"account_id": "5", "created": "2024-07-01 10:00:00", "extra": [1]}
    assert CourierAccount.parse(row, SOFIA).created == datetime(2024, 7, 1, 7, tzinfo=UTC)
    default = CourierAccount.model_validate(row)  # Bucharest
    assert default.created == datetime(2024, 7, 1, 7, tzinfo=UTC)
    assert default.account_id == 5 and default.raw == row
    assert default.model_extra == {"extra": [1]}
    assert CourierAccount.parse({"created": "not a date"}).created is None


def test_awb_save_result_shapes() -> None:
    nested = AwbSaveResult.parse({"reservation_id": "7", "awb": {"0": {"emag_id": "3"}}})
    assert nested.reservation_id == 7 and nested.emag_id == 3
    bare = AwbSaveResult.parse({"awb": ["4001", None, ""]})
    assert bare.awb_number == "4001" and len(bare.awb) == 1
    assert AwbSaveResult.parse([]).awb == []  # PHP's empty object


def test_offer_item_result_flags_and_messages() -> None:
    item = OfferItemResult.parse({"isError": "1", "messages": "Stock should be 0 or more"})
    assert item.is_error is True and item.messages == ["Stock should be 0 or more"]
    assert OfferItemResult.parse({"isError": 0, "messages": None}).messages == []


def test_count_pages() -> None:
    assert CountResult.parse({"noOfItems": "0", "noOfPages": "0"}).pages(100) == 0
    assert CountResult.parse({"noOfItems": "101"}).pages(50) == 3
    assert CountResult.parse({"noOfPages": "4", "itemsPerPage": "100"}).pages(100) == 4
    assert CountResult.parse({"noOfPages": "4", "itemsPerPage": "100"}).pages(50) is None
    assert CountResult.parse([]).pages(100) is None


# --- chunking (docs/emag-protocol.md, "Rate and size limits") -------------------------------------


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


def test_metric_route_normalises_ids() -> None:
    assert metric_route("order/acknowledge/123") == "order/acknowledge/{id}"
    assert metric_route("offer_stock/77") == "offer_stock/{id}"
    assert metric_route("order/55/unlock-courier") == "order/{id}/unlock-courier"
    assert metric_route("product_offer/read") == "product_offer/read"
