"""Orders and revenue per day on the platforms' calendars: the dashboard's chart and KPIs.

eMAG dates carry no zone and are read as the platform's local time (docs/emag-protocol.md,
"Dates and time zones"); a seller thinks of "today's orders" on that calendar too, so each order
is counted on the local day of its account's platform, not on the UTC day. The database sums
per UTC hour (:func:`magflow.orders.repository.hourly_totals`) and this module lays the hours on
the local calendar: every platform's zone is a whole number of hours from UTC, so no hour
straddles two local days.

Revenue is counted as customer spend counts it: cancelled and returned orders bring none. It is
kept per currency (RO, BG and HU accounts sell in RON, EUR (BGN before 2026) and HUF); amounts in
different currencies are never added up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.emag.dates import DEFAULT_TZ
from magflow.emag.platforms import platform_info
from magflow.orders import repository
from magflow.orders.schemas import CurrencyDay, DailyOrdersDay, DailyOrdersOut

#: The longest window ``GET /api/v1/emag/orders/daily`` serves.
MAX_DAYS = 366
#: The currency label of orders eMAG sent without one.
NO_CURRENCY = "?"


async def daily_orders(
    session: AsyncSession,
    account_ids: Sequence[int] | None,
    days: int,
    now: datetime | None = None,
) -> DailyOrdersOut:
    """The last ``days`` local days, today included, of the accounts ``account_ids`` (every
    account when ``None``), one entry per day even when it had no order."""
    now = now or datetime.now(UTC)
    accounts = await accounts_service.list_accounts(session)
    zones: dict[int, ZoneInfo] = {
        a.id: platform_info(a.platform).tz
        for a in accounts
        if account_ids is None or a.id in account_ids
    }
    calendars = set(zones.values()) or {DEFAULT_TZ}
    last = max(now.astimezone(zone).date() for zone in calendars)
    first = last - timedelta(days=days - 1)
    since = min(datetime.combine(first, time.min, zone).astimezone(UTC) for zone in calendars)

    orders: dict[date, int] = defaultdict(int)
    cell_orders: dict[tuple[date, str], int] = defaultdict(int)
    cell_revenue: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for account_id, hour, currency, count, revenue in await repository.hourly_totals(
        session, since, account_ids
    ):
        zone = zones.get(account_id)
        if zone is None:  # an account created after the accounts were listed
            continue
        day = hour.astimezone(zone).date()
        if not first <= day <= last:
            continue
        orders[day] += count
        key = (day, currency or NO_CURRENCY)
        cell_orders[key] += count
        cell_revenue[key] += revenue

    totals: dict[str, Decimal] = defaultdict(Decimal)
    for (_, currency), revenue in cell_revenue.items():
        totals[currency] += revenue
    currencies = sorted(totals, key=lambda c: (-totals[c], c))
    items = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        cells = [
            CurrencyDay(currency=c, orders=cell_orders[(day, c)], revenue=cell_revenue[(day, c)])
            for c in sorted(currencies)
            if (day, c) in cell_orders
        ]
        items.append(DailyOrdersDay(day=day, orders=orders[day], currencies=cells))
    names = {zone.key for zone in calendars}
    return DailyOrdersOut(
        days=days,
        timezone=names.pop() if len(names) == 1 else None,
        currencies=currencies,
        items=items,
    )
