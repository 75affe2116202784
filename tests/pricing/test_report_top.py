"""The report's top N per offer (chosen from the profit alone, then summed in full): the same
rows, in the same order, as summing every group and sorting them, with ties on the profit,
lines without an offer (a NULL key), lines without a cost (a NULL profit) and one offer sold
in two currencies."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal as D
from typing import Any

from magflow.context import AppContext
from magflow.orders.models import EmagOrder
from magflow.pricing import repository
from magflow.pricing.models import OrderLine
from tests.factories import make_account

DAY = date(2026, 3, 10)
FIELDS = ("quantity", "revenue", "cost", "commission", "shipping", "deposit", "profit")


def line(order_id: int, emag_id: int | None, currency: str, profit: str | None) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "day": DAY,
        "emag_id": emag_id,
        "category_id": 7,
        "currency": currency,
        "quantity": D(1),
        "revenue": D(100),
        "cost": None if profit is None else D(50),
        "commission": D(12),
        "shipping": D(2),
        "deposit": D(0),
        "profit": None if profit is None else D(profit),
    }


def reference(lines: list[dict[str, Any]], limit: int) -> list[tuple[Any, ...]]:
    """Every (offer, currency) summed, sorted by profit (NULL last), offer, currency."""
    groups: dict[tuple[Any, str], list[dict[str, Any]]] = defaultdict(list)
    for row in lines:
        groups[(row["emag_id"], row["currency"])].append(row)
    out = []
    for (key, currency), rows in groups.items():
        sums = []
        for field in FIELDS:
            values = [r[field] for r in rows if r[field] is not None]
            sums.append(sum(values, D(0)) if values else None)
        with_cost = sum(1 for r in rows if r["cost"] is not None)
        out.append((key, currency, *sums, len(rows), with_cost))
    out.sort(key=lambda r: (r[8] is None, -(r[8] or 0), r[0] is None, r[0] or 0, r[1]))
    return out[:limit]


async def test_offer_top_n_equals_every_group_sorted(ctx: AppContext) -> None:
    account = await make_account(ctx)
    async with ctx.db.session() as session:
        order = EmagOrder(
            account_id=account.id,
            emag_id=1,
            status=4,
            order_date=datetime(2026, 3, 10, 9, tzinfo=UTC),
            currency="RON",
            raw={},
            last_seen_at=datetime.now(UTC),
        )
        session.add(order)
        await session.flush()
        lines = [
            line(order.id, 5, "RON", "30"),  # offer 5: 30 + 10 in RON, 40 in EUR
            line(order.id, 5, "RON", "10"),
            line(order.id, 5, "EUR", "40"),
            line(order.id, 3, "RON", "40"),  # ties at 40: offer 3 RON, 5 EUR, 5 RON, 9 RON
            line(order.id, 9, "RON", "25"),
            line(order.id, 9, "RON", "15"),
            line(order.id, None, "RON", "40"),  # no offer: its own group, after the offers
            line(order.id, 2, "RON", "60"),
            line(order.id, 4, "RON", None),  # no cost: no profit, sorted last
            line(order.id, 4, "RON", None),
            line(order.id, 1, "RON", "-5"),
        ]
        await session.execute(
            OrderLine.__table__.insert(), [{"account_id": account.id, **r} for r in lines]
        )
        await session.commit()

    async with ctx.db.session() as session:
        for limit in (1, 3, 5, 6, 100):
            got = await repository.profit_report(session, [account.id], "offer", DAY, DAY, limit)
            assert [tuple(r) for r in got] == reference(lines, limit), limit
        # Outside the period: nothing.
        later = date(2026, 3, 11)
        assert await repository.profit_report(session, [account.id], "offer", later, later, 5) == []
