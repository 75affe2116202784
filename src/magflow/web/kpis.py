"""Overview figures that no API route returns yet: orders and revenue per day.

These two aggregate queries belong in ``orders/repository.py`` behind an orders service (and an
API route); they live here until that exists, read-only, and are the only queries of the web layer.

Revenue counts orders neither cancelled (0) nor returned (5), as customer spend does
(:mod:`magflow.customers.service`), per currency (accounts on RO, BG, HU sell in RON, BGN, HUF).
Days are UTC days of ``order_date``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.orders.models import EmagOrder

NOT_REVENUE = (0, 5)  # cancelled, returned


@dataclass
class Daily:
    days: list[str]
    orders: list[int]
    revenue: dict[str, list[float]] = field(default_factory=dict)

    @property
    def main_currency(self) -> str | None:
        if not self.revenue:
            return None
        return max(self.revenue, key=lambda c: sum(self.revenue[c]))


def _day(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value)[:10]


async def daily(session: AsyncSession, days: int = 30, now: datetime | None = None) -> Daily:
    """Orders per day (every status) and revenue per day and currency, for the last ``days``."""
    today = (now or datetime.now(UTC)).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), UTC)
    day = func.date(EmagOrder.order_date)
    revenue_expr = func.sum(EmagOrder.total_with_vat).filter(EmagOrder.status.not_in(NOT_REVENUE))
    rows = await session.execute(
        select(day, EmagOrder.currency, func.count(EmagOrder.id), revenue_expr)
        .where(EmagOrder.order_date >= start)
        .group_by(day, EmagOrder.currency)
    )
    labels = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    index = {label: i for i, label in enumerate(labels)}
    result = Daily(days=labels, orders=[0] * days)
    for raw_day, currency, count, revenue in rows:
        i = index.get(_day(raw_day))
        if i is None:
            continue
        result.orders[i] += int(count)
        series = result.revenue.setdefault(currency or "?", [0.0] * days)
        series[i] += float(Decimal(revenue or 0))
    return result
