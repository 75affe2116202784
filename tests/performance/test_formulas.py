"""Seller performance formulas (magflow.performance.service) on worked examples, as pure
functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from magflow.performance.repository import OrderRow
from magflow.performance.service import METRICS, Metric, Threshold, measure, median, percentile

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
T0 = NOW - timedelta(days=5)


def row(n: int, **changes: Any) -> OrderRow:
    values: dict[str, Any] = {
        "emag_id": n,
        "order_type": 3,
        "status": 4,
        "order_date": T0,
        "acknowledged_at": None,
        "ack_observed_at": None,
        "maximum_date_for_shipment": T0 + timedelta(days=2),
        "finalization_date": T0 + timedelta(days=1),
        "late_shipment": False,
        "cancellation_requested": False,
        "has_invoice": True,
        "has_awb": False,
        "reason_cancellation": None,
    }
    values.update(changes)
    return OrderRow(**values)


def test_median_and_nearest_rank_percentile() -> None:
    assert median([10, 1, 20, 3]) == 6.5
    assert median([5, 1, 3]) == 3
    assert percentile(list(range(1, 21)), 0.95) == 19
    assert percentile([7], 0.95) == 7
    assert median([]) is None and percentile([], 0.95) is None


def test_the_documented_worked_example() -> None:
    """20 seller orders: 2 cancelled (one by the customer, reason 2; one out of stock, reason
    1), 16 finalized with 15 invoices, one of them finalized after its deadline, 2 still open
    within their deadline."""
    orders = [row(i) for i in range(14)]
    orders.append(row(14, has_invoice=False))
    orders.append(row(15, finalization_date=T0 + timedelta(days=3)))  # late
    orders.append(row(16, status=0, reason_cancellation={"id": 2, "name": None}))
    orders.append(row(17, status=0, reason_cancellation={"id": 1, "name": None}))
    orders.append(row(18, status=2, maximum_date_for_shipment=NOW + timedelta(hours=3)))
    orders.append(row(19, status=3, maximum_date_for_shipment=NOW + timedelta(hours=3)))
    values = measure(orders, set(), NOW)
    assert values["seller_cancellation_rate"].value == 5.0  # 1 / 20
    assert values["invoice_rate"].value == 93.75  # 15 / 16
    assert values["late_shipment_rate"].value == 6.25  # 1 / 16
    status = {s.key: Metric(s, values[s.key], values[s.key]).status for s in METRICS}
    assert status["late_shipment_rate"] == "amber"  # above 5 %, within 10 %
    assert status["seller_cancellation_rate"] == "red"  # above 1.4 %
    assert status["invoice_rate"] is None  # eMAG publishes no threshold for it


def test_rates_count_each_from_their_own_orders() -> None:
    orders = [
        # acknowledged by MagFlow after 10 min, seen acknowledged by a sync after 30: 10 counts
        row(1, acknowledged_at=T0 + timedelta(minutes=10),
            ack_observed_at=T0 + timedelta(minutes=30)),
        row(2, ack_observed_at=T0 + timedelta(minutes=50), has_awb=True),
        row(3, status=5),  # returned
        row(4, has_invoice=None),  # attachments not read yet: not in the invoice rate
        # open past its deadline: late
        row(5, status=2, maximum_date_for_shipment=NOW - timedelta(hours=1)),
        # FBE: only in the invoice and return rates
        row(6, order_type=2, has_invoice=False, late_shipment=True),
        # cancelled at the customer's request: not the seller's cancellation
        row(7, status=0, cancellation_requested=True),
    ]  # fmt: skip
    values = measure(orders, {4}, NOW)  # order 4 has a return request
    assert (values["ack_time_median"].value, values["ack_time_median"].denominator) == (30.0, 2)
    assert values["ack_time_p95"].value == 50.0
    late = values["late_shipment_rate"]
    assert (late.numerator, late.denominator) == (1, 5)  # 1-4 shipped, 5 open and late
    invoice = values["invoice_rate"]
    assert (invoice.numerator, invoice.denominator) == (3, 4)  # 1, 2, 3 of 1, 2, 3, 6
    returns = values["return_rate"]
    assert (returns.numerator, returns.denominator) == (2, 5)  # 3 and 4 of 1, 2, 3, 4, 6
    awb = values["awb_share"]
    assert (awb.numerator, awb.denominator) == (1, 4)
    cancelled = values["seller_cancellation_rate"]
    assert (cancelled.numerator, cancelled.denominator) == (0, 6)


def test_threshold_bands_and_trend() -> None:
    at_most = Threshold(0.7, True, "")
    assert [at_most.status(v) for v in (0.7, 1.4, 1.41)] == ["green", "amber", "red"]
    at_least = Threshold(95.0, False, "")
    assert [at_least.status(v) for v in (95.0, 90.0, 89.9)] == ["green", "amber", "red"]
    assert at_least.status(None) is None
    spec = next(s for s in METRICS if s.key == "invoice_rate")
    before = measure([row(1), row(2, has_invoice=False)], set(), NOW)["invoice_rate"]
    up = Metric(spec, measure([row(1)], set(), NOW)["invoice_rate"], before)
    assert (up.change, up.direction) == (50.0, "better")
