"""eMAG payloads with PHP quirks map to the same rows as clean ones (offer and order rows)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from magflow.catalog.mapping import offer_row
from magflow.orders.mapping import customer_key, order_row, order_totals

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
BUCHAREST = ZoneInfo("Europe/Bucharest")


def test_offer_row_coerces_strings_and_derives_vat_price_and_stock() -> None:
    raw = {
        "id": "42",
        "name": "Cable",
        "sale_price": "100.5000",
        "vat_id": "1",
        "stock": [{"warehouse_id": 1, "value": "3"}, {"warehouse_id": 2, "value": 4}],
        "handling_time": [{"warehouse_id": 1, "value": "2"}],
        "offer_validation_status": {"value": "1", "description": "Saleable"},
        "validation_status": [{"value": 9, "description": "Approved", "errors": None}],
        "ean": ["5941234567890", None, ""],
        "images": [],
        "status": "1",
    }
    row = offer_row(
        raw, account_id=7, run_id=3, now=NOW, currency="RON", vat_rates={1: Decimal("0.21")}
    )
    assert row["emag_id"] == 42
    assert row["sale_price"] == Decimal("100.5")
    assert row["sale_price_with_vat"] == Decimal("121.6050")
    assert row["stock_total"] == 7
    assert row["handling_time"] == 2
    assert row["offer_validation_status"] == 1
    assert row["validation_status"] == 9
    assert row["ean"] == ["5941234567890"]
    assert row["currency"] == "RON"
    assert row["status"] == 1
    assert row["raw"] is raw


def test_order_totals_use_active_lines_vouchers_and_shipping() -> None:
    raw = {
        "products": [
            {"status": "1", "quantity": "2", "sale_price": "100.0000", "vat": "0.2100"},
            {"status": "0", "quantity": "1", "sale_price": "999", "vat": "0.21"},
        ],
        "vouchers": [{"sale_price": "-10", "sale_price_vat": "-2.1"}],
        "shipping_tax": "15.99",
    }
    net, gross = order_totals(raw)
    assert net == Decimal("190.0000")
    assert gross == Decimal("242") - Decimal("12.1") + Decimal("15.99")


def test_order_row_accepts_both_cancellation_fields_and_php_empty_objects() -> None:
    base = {"id": "1001", "status": "0", "type": 3, "date": "2026-11-01 12:30:00", "details": []}
    new_style = order_row(
        {**base, "reason_cancellation": {"id": 2, "name": "by client"}, "customer": []},
        account_id=1,
        platform="ro",
        run_id=1,
        now=NOW,
        currency="RON",
        tz=BUCHAREST,
        previous_status=None,
        previous_history=None,
    )
    old_style = order_row(
        {**base, "cancellation_reason": "2"},
        account_id=1,
        platform="ro",
        run_id=1,
        now=NOW,
        currency="RON",
        tz=BUCHAREST,
        previous_status=None,
        previous_history=None,
    )
    assert new_style["reason_cancellation"] == {"id": 2, "name": "by client"}
    assert old_style["reason_cancellation"] == {"id": 2, "name": None}
    assert new_style["details"] is None and new_style["customer"] is None
    # Platform-local wall time: 12:30 in Bucharest (UTC+2 in November) is 10:30 UTC.
    assert new_style["order_date"] == datetime(2026, 11, 1, 10, 30, tzinfo=UTC)
    assert new_style["status_history"] == [{"status": 0, "at": NOW.isoformat()}]


def test_status_history_grows_only_on_change() -> None:
    raw = {"id": 5, "status": 2, "modified": "2026-11-02 08:00:00"}
    kwargs = dict(account_id=1, platform="ro", run_id=1, now=NOW, currency="RON", tz=BUCHAREST)
    first = order_row(raw, previous_status=1, previous_history=[{"status": 1, "at": "x"}], **kwargs)  # type: ignore[arg-type]
    same = order_row(raw, previous_status=2, previous_history=first["status_history"], **kwargs)  # type: ignore[arg-type]
    assert [h["status"] for h in first["status_history"]] == [1, 2]
    assert same["status_history"] == first["status_history"]


def test_customer_key_prefers_id_then_email_then_phone() -> None:
    assert customer_key("ro", {"id": "77", "email": "h"}) == "ro:id:77"
    by_email = customer_key("bg", {"id": 0, "email": " ABC@x "})
    assert by_email is not None and by_email.startswith("bg:email:")
    assert by_email == customer_key("bg", {"email": "abc@x"})
    assert customer_key("hu", {"phone_1": "+36 (1) 234-567"}) == "hu:phone:361234567"
    assert customer_key("ro", {}) is None
