"""Formulas in SQL agree with the Python ones, on both databases; summary and filters.

Helpers at the top insert hand-built customers and orders directly (no sync engine); the API
tests import them."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select, text

from magflow.context import AppContext
from magflow.customers import analytics, analytics_sql, repository
from magflow.customers.models import EmagCustomer, EmagCustomerAccount
from magflow.orders.models import EmagOrder

_ids = itertools.count(1)


def customer_row(**values: Any) -> dict[str, Any]:
    n = next(_ids)
    row: dict[str, Any] = {
        "customer_key": f"ro:id:{n}",
        "platform": "ro",
        "emag_customer_id": n,
        "name": f"Customer {n}",
        "email_hash": f"hash{n:04d}",
        "phone": f"07220000{n:02d}",
        "currency": "RON",
        "orders_count": 1,
        "total_spent": Decimal("100"),
        "cancelled_count": 0,
        "returned_count": 0,
        "cod_count": 0,
        "main_orders": 1,
        "fbe_orders": 0,
        "first_order_at": datetime(2026, 1, 10, tzinfo=UTC),
        "last_order_at": datetime(2026, 1, 10, tzinfo=UTC),
    }
    row.update(values)
    return row


async def insert_customers(
    ctx: AppContext, rows: list[dict[str, Any]], accounts: dict[int, list[int]] | None = None
) -> list[int]:
    """Insert customers; ``accounts`` maps a row's index to the account ids it ordered on."""
    async with ctx.db.session() as session:
        objects = [EmagCustomer(**row) for row in rows]
        session.add_all(objects)
        await session.flush()
        for index, account_ids in (accounts or {}).items():
            for account_id in account_ids:
                session.add(
                    EmagCustomerAccount(
                        customer_id=objects[index].id,
                        account_id=account_id,
                        orders_count=objects[index].orders_count,
                        total_spent=objects[index].total_spent,
                    )
                )
        await session.commit()
        return [o.id for o in objects]


async def insert_orders(ctx: AppContext, rows: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        for values in rows:
            row: dict[str, Any] = {
                "emag_id": next(_ids) + 100_000,
                "status": 4,
                "order_type": 3,
                "currency": "RON",
                "raw": {},
                "last_seen_at": now,
            }
            row.update(values)
            session.add(EmagOrder(**row))
        await session.commit()


# -- tests --------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def search_matches(customer: EmagCustomer, text: str) -> bool:
    """The listing's search, as its description says: the name (substring), the customer key
    or email hash (prefix, or the whole key), the phone (3+ digits of the text, anywhere) or
    the eMAG customer id. Other customers than the one looked for match too (a key's digits
    in someone's phone): which ones depends on the ids the rows got."""
    low = text.strip().lower()
    digits = re.sub(r"\D", "", text)
    return bool(
        (customer.name and low in customer.name.lower())
        or customer.customer_key == text.strip()
        or customer.customer_key.lower().startswith(low)
        or (customer.email_hash and customer.email_hash.lower().startswith(low))
        or (len(digits) >= 3 and customer.phone and digits in customer.phone)
        or (text.strip().isdigit() and customer.emag_customer_id == int(text.strip()))
    )


def population() -> list[dict[str, Any]]:
    """Edge cases of every formula, then a deterministic spread of ordinary customers."""
    rows = [
        customer_row(total_spent=Decimal("500"), currency="RON"),  # silver at the threshold
        customer_row(total_spent=Decimal("499.99"), currency="RON"),
        customer_row(total_spent=Decimal("40000"), currency="HUF", platform="hu"),
        customer_row(total_spent=Decimal("5000"), currency=None),
        customer_row(total_spent=Decimal("2000"), currency="XYZ"),
        customer_row(orders_count=2, cancelled_count=1, total_spent=Decimal(0)),  # risk 0.3
        customer_row(orders_count=10, cancelled_count=1, returned_count=1),  # risk 0.1
        customer_row(orders_count=5, main_orders=4, fbe_orders=1),  # main at 4/5
        customer_row(orders_count=4, main_orders=3, fbe_orders=1),  # mixed
        customer_row(orders_count=3, main_orders=0, fbe_orders=3),
        customer_row(orders_count=0, main_orders=0, fbe_orders=0, total_spent=Decimal(0)),
        customer_row(last_order_at=None, first_order_at=None),
        customer_row(last_order_at=NOW - timedelta(days=30)),  # active at the boundary
        customer_row(last_order_at=NOW - timedelta(days=30, seconds=1)),
        customer_row(first_order_at=datetime(2026, 11, 1, tzinfo=UTC), last_order_at=NOW),
        customer_row(
            first_order_at=datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), last_order_at=NOW
        ),
    ]
    for i in range(60):
        orders = 1 + (i * 7) % 13
        cancelled = (i * 5) % 3 if orders > 2 else 0
        returned = (i % 4 == 0) and orders - cancelled > 1
        fbe = (i * 3) % (orders + 1)
        rows.append(
            customer_row(
                currency=("RON", "BGN", "HUF")[i % 3],
                orders_count=orders,
                cancelled_count=cancelled,
                returned_count=int(returned),
                cod_count=(i * 11) % (orders + 1),
                main_orders=orders - fbe,
                fbe_orders=fbe,
                total_spent=Decimal(37 * i * i) / (1 if i % 3 != 2 else Decimal("0.01")),
                first_order_at=NOW - timedelta(days=400 - i * 6, hours=i),
                last_order_at=NOW - timedelta(days=(i * 17) % 300, minutes=i),
            )
        )
    return rows


async def test_sql_formulas_agree_with_python(ctx: AppContext) -> None:
    ids = await insert_customers(ctx, population())
    async with ctx.db.session() as session:
        result = await session.execute(
            select(
                EmagCustomer,
                analytics_sql.tier_sql().label("tier"),
                analytics_sql.risk_level_sql().label("risk"),
                analytics_sql.risk_sql().label("risk_score"),
                analytics_sql.channel_sql().label("channel"),
                analytics_sql.loyalty_sql(NOW).label("loyalty"),
                analytics_sql.loyalty_band_sql(NOW).label("band"),
                analytics_sql.average_order_value_sql().label("aov"),
            ).order_by(EmagCustomer.id)
        )
        rows = result.all()
        assert len(rows) == len(ids)
        for row in rows:
            customer = row[0]
            facts = analytics.insight(customer, NOW)
            raw = analytics.loyalty_raw(
                orders=customer.orders_count,
                cancelled=customer.cancelled_count,
                returned=customer.returned_count,
                total_spent=customer.total_spent,
                currency=customer.currency,
                last_order_at=customer.last_order_at,
                now=NOW,
            )
            where = f"customer {customer.customer_key}"
            assert row.tier == facts.tier, where
            assert row.risk == facts.risk_level, where
            assert row.risk_score == pytest.approx(facts.risk_score, abs=1e-4), where
            assert row.channel == facts.preferred_channel, where
            assert row.loyalty == pytest.approx(raw, abs=1e-6), where
            assert row.band == facts.loyalty_band, where
            if facts.average_order_value is None:
                assert row.aov is None
            else:
                assert float(row.aov) == pytest.approx(float(facts.average_order_value), abs=0.01)

        # Each tier condition (spend ranges per currency) selects exactly that tier's customers.
        by_tier: dict[str, set[int]] = {t: set() for t in analytics.TIERS}
        for row in rows:
            by_tier[row.tier].add(row[0].id)
        for tier in analytics.TIERS:
            selected = await session.execute(
                select(EmagCustomer.id).where(analytics_sql.tier_condition(tier))
            )
            assert set(selected.scalars()) == by_tier[tier], tier
    # The edge cases landed where the formulas say.
    tiers = {row[0].total_spent: row.tier for row in rows[:5]}
    assert tiers[Decimal("500")] == "silver" and tiers[Decimal("499.99")] == "bronze"
    assert [row.risk for row in rows[5:7]] == ["high", "medium"]
    assert [row.channel for row in rows[7:11]] == ["main", "mixed", "fbe", "none"]


async def test_summary_counts_all_customers(ctx: AppContext) -> None:
    rows = population()
    await insert_customers(ctx, rows)
    async with ctx.db.session() as session:
        segments = await repository.customer_segments(session, NOW)
        customers = (await session.execute(select(EmagCustomer))).scalars().all()
    summary = analytics.summarize(segments, NOW)
    facts = [analytics.insight(c, NOW) for c in customers]
    assert summary["total_customers"] == len(rows)
    assert summary["total_orders"] == sum(r["orders_count"] for r in rows)
    for key, attribute in (
        ("tier_distribution", "tier"),
        ("channel_distribution", "preferred_channel"),
        ("risk_distribution", "risk_level"),
        ("loyalty_distribution", "loyalty_band"),
    ):
        expected: dict[str, int] = {}
        for f in facts:
            expected[getattr(f, attribute)] = expected.get(getattr(f, attribute), 0) + 1
        assert {k: v for k, v in summary[key].items() if v} == expected, key
    active_since = NOW - timedelta(days=30)
    assert summary["active_customers"] == sum(
        1 for c in customers if c.last_order_at and c.last_order_at >= active_since
    )
    assert summary["new_this_month"] == sum(
        1
        for c in customers
        if c.first_order_at and c.first_order_at >= datetime(2026, 11, 1, tzinfo=UTC)
    )
    repeat = sum(1 for f in facts if f.is_repeat)
    assert summary["repeat_customers"] == repeat
    assert summary["repeat_customer_rate"] == round(repeat / len(rows), 4)
    spend_ron = sum((r["total_spent"] for r in rows if r["currency"] == "RON"), Decimal(0))
    assert summary["spend_by_currency"]["RON"] == spend_ron.quantize(Decimal("0.01"))
    # The boundary rows: 30 days exactly is active, one second more is not; the 1st is new.
    assert summary["channel_distribution"]["none"] == 1


async def test_filters_match_the_formulas(ctx: AppContext) -> None:
    await insert_customers(ctx, population())
    async with ctx.db.session() as session:
        customers = (await session.execute(select(EmagCustomer))).scalars().all()
        facts = {c.id: analytics.insight(c, NOW) for c in customers}

        async def ids(**kwargs: Any) -> set[int]:
            total, rows = await repository.list_customers(
                session, repository.CustomerFilter(now=NOW, **kwargs), limit=500
            )
            assert total == len(rows)
            return {row.id for row in rows}

        assert await ids(risks=["high"]) == {i for i, f in facts.items() if f.risk_level == "high"}
        assert await ids(channels=["mixed"]) == {
            i for i, f in facts.items() if f.preferred_channel == "mixed"
        }
        assert await ids(tiers=["gold", "platinum"]) == {
            i for i, f in facts.items() if f.tier in ("gold", "platinum")
        }
        assert await ids(loyalty_min=40, loyalty_max=59) == {
            i for i, f in facts.items() if 40 <= f.loyalty_score <= 59
        }
        one = customers[3]
        assert one.name and one.phone and one.email_hash
        for text in (one.name.upper(), one.phone[-4:], one.email_hash, one.customer_key):
            found = await ids(search=text)
            assert one.id in found, text
            assert found == {c.id for c in customers if search_matches(c, text)}, text

        # Sorting by loyalty follows the displayed score.
        _, page = await repository.list_customers(
            session, repository.CustomerFilter(now=NOW), sort="loyalty", limit=20
        )
        scores = [facts[c.id].loyalty_score for c in page]
        assert scores == sorted(scores, reverse=True)
        assert scores[0] == max(f.loyalty_score for f in facts.values())


async def test_a_page_statement_is_kept_only_when_it_holds_no_time(ctx: AppContext) -> None:
    """The listing's statement is kept per filters and sort, except when it holds the request's
    time (the loyalty score, in a loyalty filter or sort): kept, it would answer at the time of
    the first request."""
    from magflow.db import query

    await insert_customers(ctx, population())

    def kept() -> list[Any]:
        return [key for key in query._page_statements if key[0] == "emag_customers"]

    query._page_statements.clear()
    async with ctx.db.read_session() as session:
        for sort, kwargs in (("loyalty", {}), ("spend", {"loyalty_min": 10}), ("risk", {})):
            for now in (NOW, NOW + timedelta(days=90)):
                flt = repository.CustomerFilter(now=now, **kwargs)
                await repository.page_customers(session, flt, sort=sort, limit=5)
        assert [key[1] for key in kept()] == ["risk"]  # one statement for both times
        # Ninety days on, the loyalty order is the one of that day's scores, not a kept one's.
        later = NOW + timedelta(days=90)
        page = await repository.page_customers(
            session, repository.CustomerFilter(now=later), sort="loyalty", limit=80
        )
        scores = [analytics.insight(row, later).loyalty_score for row in page]
        assert scores == sorted(scores, reverse=True)


async def test_the_summary_aggregate_runs_without_jit_in_any_session(ctx: AppContext) -> None:
    """PostgreSQL: JIT compilation is off for the aggregate in an ordinary session and in a
    listing's read session (autocommit, where ``SET LOCAL`` does nothing), and the session's
    setting is the server's again afterwards."""
    if ctx.db.engine.dialect.name != "postgresql":
        return
    await insert_customers(ctx, population())
    during: list[str] = []

    def show_jit(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if "per_customer" in statement:
            cursor.execute("SHOW jit")
            during.append(cursor.fetchone()[0])

    show = text("SHOW jit")
    event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", show_jit)
    try:
        for open_session in (ctx.db.read_session, ctx.db.session):
            async with open_session() as session:
                before = (await session.execute(show)).scalar_one()
                await repository.customer_segments(session, NOW)
                assert (await session.execute(show)).scalar_one() == before
    finally:
        event.remove(ctx.db.engine.sync_engine, "before_cursor_execute", show_jit)
    assert during == ["off", "off"]
