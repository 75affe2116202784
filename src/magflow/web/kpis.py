"""The overview's chart: orders and revenue per day over the last days, without gaps.

The sums come from :func:`magflow.orders.repository.daily_totals` (revenue as customer spend counts
it, per currency: accounts on RO, BG, HU sell in RON, BGN, HUF); this module lays them on a
calendar of UTC days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.orders import repository as orders_repository


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
    rows = await orders_repository.daily_totals(session, start)
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
