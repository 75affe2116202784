"""Seller performance of one account over a period, from MagFlow's own data. Never commits.

**Cohort.** The period is the last ``days`` (7, 30 or 90) before now; a metric is computed over
the account's orders *placed* in it (``order_date``), and its trend against the orders placed in
the ``days`` before that. Daily values (the charts) group the same orders by the local day of
the account's platform. Seller-fulfilled orders (type 3) are "seller orders"; FBE orders
(type 2) are eMAG's to acknowledge, ship and cancel (docs/emag-protocol.md, "Orders").

**Formulas** (a rate is ``numerator / denominator`` in percent, None when the denominator is 0):

- ``ack_time_median`` / ``ack_time_p95`` (minutes): over seller orders whose acknowledgement
  time is known, ``ack_at - order_date``, where ``ack_at`` is when MagFlow acknowledged the order
  (``acknowledged_at``) or, earlier if so, when a sync first saw it leave status 1
  (``ack_observed_at``, an upper bound: docs/emag-protocol.md, "Orders"). eMAG sends no
  acknowledgement time, so an order first read already acknowledged is not measured (the metric
  says on how many orders it was measured). Median: the middle value (the mean of the two
  middle ones for an even count); p95: nearest rank, the ``ceil(0.95 n)``-th smallest value.
- ``late_shipment_rate``: late / due. *Due*: seller orders shipped (status 4 or 5) plus those not
  shipped yet (1-3) whose ``maximum_date_for_shipment`` has passed. *Late*: those eMAG flags
  ``late_shipment``, or finalized after ``maximum_date_for_shipment`` (``finalization_date``), or
  not shipped and past it.
- ``seller_cancellation_rate``: seller orders cancelled (status 0) not at the customer's wish /
  seller orders. At the customer's wish: reason 2 "cancelled by the customer" or a
  ``cancellation_request`` on the order.
- ``invoice_rate``: finalized orders (4 or 5, both types) with an invoice attachment / finalized
  orders whose attachments MagFlow has read (``has_invoice`` known).
- ``return_rate``: finalized orders (4 or 5) returned (status 5, or with a return request that is
  not incomplete, refused or cancelled) / finalized orders.
- ``awb_share``: finalized seller orders whose AWB MagFlow issued through eMAG (``awb/save``,
  docs/emag-protocol.md, "AWBs and couriers") / finalized seller orders. ``order/read`` carries no
  AWB, so an AWB issued in eMAG's own seller pages counts as not issued through eMAG.

**Thresholds** (``status`` green / amber / red; none for metrics eMAG publishes none for). eMAG's
published targets (docs/emag-protocol.md, "Orders", "Seller performance"): order service level
≥ 95 %, read by MagFlow as ``late_shipment_rate`` ≤ 5 %; order incidents ≤ 0.7 %, read as
``seller_cancellation_rate`` ≤ 0.7 %. Green within the target, amber up to twice the allowed
share (≤ 10 %, ≤ 1.4 %), red beyond. Delivery coverage (> 98 %) is not in MagFlow's data.

**Trend**: ``change = value - previous`` (percentage points, or minutes), ``direction``
``better``, ``worse`` or ``same`` by whether lower or higher is better for the metric; None when
either value is missing.

Worked example: 20 seller orders placed in the period, 2 cancelled (one with reason 2, one
out of stock), 16 finalized with 15 invoices, 1 of the 16 late: seller cancellation rate
1 / 20 = 5.00 % (red: above 1.4 %), invoice rate 15 / 16 = 93.75 %, late shipment rate
1 / 16 = 6.25 % (amber).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts.models import EmagAccount
from magflow.emag.codes import OrderStatus, OrderType
from magflow.emag.platforms import platform_info
from magflow.performance import repository
from magflow.performance.repository import OrderRow

#: ``reason_cancellation`` 2: cancelled by the customer (docs/emag-protocol.md, "Orders").
REASON_BY_CUSTOMER = 2
_SHIPPED = frozenset({OrderStatus.FINALIZED, OrderStatus.RETURNED})
_OPEN = frozenset({OrderStatus.NEW, OrderStatus.IN_PROGRESS, OrderStatus.PREPARED})

Status = Literal["green", "amber", "red"]
Direction = Literal["better", "worse", "same"]


@dataclass(frozen=True)
class Threshold:
    """A target: ``value <= limit`` (``lower_is_better``) or ``value >= limit``."""

    limit: float
    lower_is_better: bool
    source: str

    def status(self, value: float | None) -> Status | None:
        """Green within the target; amber up to twice the allowed share of failures (for a
        ``>=`` target in percent, the allowed share is ``100 - limit``); red beyond."""
        if value is None:
            return None
        if self.lower_is_better:
            return "green" if value <= self.limit else "amber" if value <= 2 * self.limit else "red"
        allowed = 100 - self.limit
        if value >= self.limit:
            return "green"
        return "amber" if value >= self.limit - allowed else "red"


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    unit: Literal["%", "min"]
    lower_is_better: bool
    threshold: Threshold | None = None


METRICS = (
    MetricSpec("ack_time_median", "Acknowledgement time, median", "min", True),
    MetricSpec("ack_time_p95", "Acknowledgement time, 95th percentile", "min", True),
    MetricSpec(
        "late_shipment_rate",
        "Late shipment rate",
        "%",
        True,
        Threshold(5.0, True, "eMAG order service level ≥ 95 % (shipped on time)"),
    ),
    MetricSpec(
        "seller_cancellation_rate",
        "Seller cancellation rate",
        "%",
        True,
        Threshold(0.7, True, "eMAG order incidents ≤ 0.7 %"),
    ),
    MetricSpec("invoice_rate", "Invoice attachment rate", "%", False),
    MetricSpec("return_rate", "Return rate", "%", True),
    MetricSpec("awb_share", "AWBs issued through eMAG", "%", False),
)


@dataclass
class Measure:
    """A metric's value with what it was computed from (``numerator``/``denominator`` for a
    rate; ``denominator`` = the orders measured for a time)."""

    value: float | None
    numerator: int | None
    denominator: int


@dataclass
class Metric:
    spec: MetricSpec
    current: Measure
    previous: Measure

    @property
    def status(self) -> Status | None:
        return self.spec.threshold.status(self.current.value) if self.spec.threshold else None

    @property
    def change(self) -> float | None:
        if self.current.value is None or self.previous.value is None:
            return None
        return round(self.current.value - self.previous.value, 2)

    @property
    def direction(self) -> Direction | None:
        change = self.change
        if change is None:
            return None
        if change == 0:
            return "same"
        return "better" if (change < 0) == self.spec.lower_is_better else "worse"


@dataclass
class Performance:
    account: str
    days: int
    since: datetime
    until: datetime
    orders: int
    metrics: list[Metric]
    daily: list[dict[str, object]] = field(default_factory=list)


# -- the formulas (pure) -------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    """The middle value; the mean of the two middle ones for an even count
    (``[1, 3, 10, 20]`` → 6.5)."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest rank: the ``ceil(share * n)``-th smallest value (p95 of 1..20 is 19)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def rate(numerator: int, denominator: int) -> Measure:
    value = round(100 * numerator / denominator, 2) if denominator else None
    return Measure(value, numerator, denominator)


def _seller(o: OrderRow) -> bool:
    return o.order_type != OrderType.FBE


def ack_minutes(o: OrderRow) -> float | None:
    """Minutes from placing to acknowledgement (the earlier known ``ack_at``), at least 0."""
    known = [t for t in (o.acknowledged_at, o.ack_observed_at) if t is not None]
    if not known:
        return None
    return max(0.0, (min(known) - o.order_date).total_seconds() / 60)


def is_late(o: OrderRow, now: datetime) -> bool | None:
    """None: not due (not shipped, deadline not passed, or not a seller order)."""
    if not _seller(o):
        return None
    deadline = o.maximum_date_for_shipment
    if o.status in _SHIPPED:
        finalized_late = (
            deadline is not None
            and o.finalization_date is not None
            and o.finalization_date > deadline
        )
        return bool(o.late_shipment) or finalized_late
    if o.status in _OPEN and deadline is not None and deadline <= now:
        return True
    return None


def seller_cancelled(o: OrderRow) -> bool:
    reason = (o.reason_cancellation or {}).get("id")
    return (
        o.status == OrderStatus.CANCELLED
        and reason != REASON_BY_CUSTOMER
        and not o.cancellation_requested
    )


def measure(orders: Iterable[OrderRow], returned: set[int], now: datetime) -> dict[str, Measure]:
    """Every metric over ``orders`` (see the module docstring for the formulas)."""
    orders = list(orders)
    seller = [o for o in orders if _seller(o)]
    times = [m for o in seller if (m := ack_minutes(o)) is not None]
    late = [flag for o in seller if (flag := is_late(o, now)) is not None]
    finalized = [o for o in orders if o.status in _SHIPPED]
    invoiced = [o.has_invoice for o in finalized if o.has_invoice is not None]
    seller_finalized = [o for o in finalized if _seller(o)]

    def rounded(value: float | None) -> float | None:
        return round(value, 2) if value is not None else None

    return {
        "ack_time_median": Measure(rounded(median(times)), None, len(times)),
        "ack_time_p95": Measure(rounded(percentile(times, 0.95)), None, len(times)),
        "late_shipment_rate": rate(sum(late), len(late)),
        "seller_cancellation_rate": rate(sum(map(seller_cancelled, seller)), len(seller)),
        "invoice_rate": rate(sum(invoiced), len(invoiced)),
        "return_rate": rate(
            sum(o.status == OrderStatus.RETURNED or o.emag_id in returned for o in finalized),
            len(finalized),
        ),
        "awb_share": rate(sum(o.has_awb for o in seller_finalized), len(seller_finalized)),
    }


def daily(
    orders: Sequence[OrderRow],
    returned: set[int],
    now: datetime,
    since: datetime,
    days: int,
    tz: tzinfo,
) -> list[dict[str, object]]:
    """Per local day of the period: the orders placed and each metric's value that day."""
    first = since.astimezone(tz).date()
    by_day: dict[date, list[OrderRow]] = {first + timedelta(days=i): [] for i in range(days + 1)}
    for o in orders:
        by_day.setdefault(o.order_date.astimezone(tz).date(), []).append(o)
    out: list[dict[str, object]] = []
    for day in sorted(by_day):
        values = measure(by_day[day], returned, now)
        out.append(
            {
                "day": day.isoformat(),
                "orders": len(by_day[day]),
                **{key: m.value for key, m in values.items()},
            }
        )
    return out


# -- the service ---------------------------------------------------------------------------------


async def performance(
    session: AsyncSession,
    account: EmagAccount,
    days: int,
    now: datetime,
) -> Performance:
    """The account's metrics over the last ``days`` with their trend and daily values."""
    since = now - timedelta(days=days)
    before = since - timedelta(days=days)
    rows = await repository.orders_placed(session, account.id, before, now)
    returned = await repository.returned_order_ids(session, account.id)
    current = [o for o in rows if o.order_date >= since]
    previous = [o for o in rows if o.order_date < since]
    now_values = measure(current, returned, now)
    then_values = measure(previous, returned, now)
    tz = platform_info(account.platform).tz
    return Performance(
        account=account.name,
        days=days,
        since=since,
        until=now,
        orders=len(current),
        metrics=[Metric(s, now_values[s.key], then_values[s.key]) for s in METRICS],
        daily=daily(current, returned, now, since, days, tz),
    )
