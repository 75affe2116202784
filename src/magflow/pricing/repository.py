"""Every query on the pricing tables (and the reads of offers and orders the pricing needs)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.catalog.models import EmagOffer
from magflow.db.upsert import upsert
from magflow.orders.models import EmagOrder
from magflow.pricing.models import (
    CategoryCommission,
    OfferCost,
    OfferHistory,
    OrderLine,
    OrderLinesWatermark,
    PricingDecision,
    PricingRule,
    PricingRun,
    PricingSettings,
    RuleState,
)

CHUNK = 900  # SQLite allows 999 parameters per statement


def _table(model: Any) -> Table:
    """A model's Core table: a Core insert of many rows is batched into multi-row VALUES
    (SQLAlchemy's "insertmanyvalues"), much faster than the ORM's bulk insert path."""
    table: Table = model.__table__
    return table


# -- history -----------------------------------------------------------------------------------


async def watched_values(
    session: AsyncSession, account_id: int, emag_ids: list[int], names: Sequence[str]
) -> dict[int, dict[str, Any]]:
    columns = [getattr(EmagOffer, n) for n in names]
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(emag_ids), CHUNK):
        result = await session.execute(
            select(EmagOffer.emag_id, *columns).where(
                EmagOffer.account_id == account_id,
                EmagOffer.emag_id.in_(emag_ids[start : start + CHUNK]),
            )
        )
        for row in result.mappings():
            found[row["emag_id"]] = dict(row)
    return found


async def insert_history(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:  # a Core insert: SQLAlchemy batches it into multi-row VALUES
        await session.execute(insert(_table(OfferHistory)), rows)


async def delete_history_before(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(OfferHistory).where(OfferHistory.recorded_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def offer_history(
    session: AsyncSession, account_id: int, emag_id: int, since: datetime | None, limit: int
) -> Sequence[OfferHistory]:
    query = select(OfferHistory).where(
        OfferHistory.account_id == account_id, OfferHistory.emag_id == emag_id
    )
    if since is not None:
        query = query.where(OfferHistory.recorded_at >= since)
    query = query.order_by(OfferHistory.recorded_at.desc(), OfferHistory.id.desc()).limit(limit)
    rows = list((await session.execute(query)).scalars())
    rows.reverse()
    return rows


async def history_since(
    session: AsyncSession,
    account_ids: Sequence[int] | None,
    since: datetime,
    after_id: int,
    limit: int,
) -> Sequence[OfferHistory]:
    """Changes recorded at or after ``since``, in id order, after ``after_id`` (paging)."""
    query = select(OfferHistory).where(
        OfferHistory.recorded_at >= since, OfferHistory.id > after_id
    )
    if account_ids is not None:
        query = query.where(OfferHistory.account_id.in_(account_ids))
    return list((await session.execute(query.order_by(OfferHistory.id).limit(limit))).scalars())


async def buy_button_moves(
    session: AsyncSession, account_ids: Sequence[int] | None, since: datetime
) -> dict[str, int]:
    """Buy Buttons won and lost since ``since``: an offer's history row at rank 1 whose previous
    row was not (won), or a row not at rank 1 whose previous row was (lost). The previous row
    may be older than ``since``."""
    h = OfferHistory.__table__.alias("h")
    p = OfferHistory.__table__.alias("p")
    previous_rank = (
        select(p.c.buy_button_rank)
        .where(
            p.c.account_id == h.c.account_id,
            p.c.emag_id == h.c.emag_id,
            p.c.id < h.c.id,
        )
        .order_by(p.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = select(h.c.buy_button_rank, previous_rank.label("previous")).where(
        h.c.recorded_at >= since
    )
    if account_ids is not None:
        query = query.where(h.c.account_id.in_(account_ids))
    won = lost = 0
    for rank, previous in (await session.execute(query)).all():
        if rank == 1 and previous is not None and previous != 1:
            won += 1
        elif rank != 1 and previous == 1:
            lost += 1
    return {"won": won, "lost": lost}


# -- offers ------------------------------------------------------------------------------------


async def offer_by_emag_id(
    session: AsyncSession, account_id: int, emag_id: int
) -> EmagOffer | None:
    result = await session.execute(
        select(EmagOffer).where(EmagOffer.account_id == account_id, EmagOffer.emag_id == emag_id)
    )
    return result.scalar_one_or_none()


async def offers_for_pricing(session: AsyncSession, account_id: int) -> Sequence[Any]:
    """Every offer of the account still on eMAG, with what the repricer reads, its unit cost
    and eMAG's commission estimate included (one query, plain rows, through the session's
    connection: no ORM row processing, no second 100,000-row read keyed in a dict)."""
    connection = await session.connection()
    result = await connection.execute(
        select(
            EmagOffer.id,
            EmagOffer.emag_id,
            EmagOffer.category_id,
            EmagOffer.brand,
            EmagOffer.currency,
            EmagOffer.sale_price,
            EmagOffer.min_sale_price,
            EmagOffer.max_sale_price,
            EmagOffer.recommended_price,
            EmagOffer.vat_rate,
            EmagOffer.buy_button_rank,
            EmagOffer.best_offer_sale_price,
            EmagOffer.number_of_offers,
            OfferCost.unit_cost,
            OfferCost.emag_commission_rate,
        )
        .outerjoin(
            OfferCost,
            and_(OfferCost.account_id == account_id, OfferCost.emag_id == EmagOffer.emag_id),
        )
        .where(EmagOffer.account_id == account_id, EmagOffer.missing_since.is_(None))
    )
    return result.all()


# -- costs and commissions ---------------------------------------------------------------------


async def costs(session: AsyncSession, account_id: int) -> dict[int, Any]:
    """``{emag_id: (unit_cost, emag_commission_rate)}`` rows (plain rows: 100,000 of them load
    in a fraction of the time ORM objects take)."""
    connection = await session.connection()
    result = await connection.execute(
        select(OfferCost.emag_id, OfferCost.unit_cost, OfferCost.emag_commission_rate).where(
            OfferCost.account_id == account_id
        )
    )
    return {row.emag_id: row for row in result.all()}


async def cost_of(session: AsyncSession, account_id: int, emag_id: int) -> OfferCost | None:
    result = await session.execute(
        select(OfferCost).where(OfferCost.account_id == account_id, OfferCost.emag_id == emag_id)
    )
    return result.scalar_one_or_none()


async def upsert_costs(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await upsert(
            session,
            OfferCost.__table__,
            rows,
            ["account_id", "emag_id"],
            ["unit_cost", "currency", "updated_at"],
        )


async def set_emag_commission(
    session: AsyncSession, account_id: int, emag_id: int, rate: Decimal, at: datetime
) -> None:
    await upsert(
        session,
        OfferCost.__table__,
        [
            {
                "account_id": account_id,
                "emag_id": emag_id,
                "emag_commission_rate": rate,
                "emag_commission_at": at,
                "updated_at": at,
            }
        ],
        ["account_id", "emag_id"],
        ["emag_commission_rate", "emag_commission_at", "updated_at"],
    )


async def category_commissions(session: AsyncSession, account_id: int) -> dict[int, Decimal]:
    result = await session.execute(
        select(CategoryCommission.category_id, CategoryCommission.rate).where(
            CategoryCommission.account_id == account_id
        )
    )
    return {c: r for c, r in result.all()}


async def upsert_category_commissions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await upsert(
            session,
            CategoryCommission.__table__,
            rows,
            ["account_id", "category_id"],
            ["rate", "updated_at"],
        )


async def get_settings(session: AsyncSession, account_id: int) -> PricingSettings | None:
    return await session.get(PricingSettings, account_id)


def add(session: AsyncSession, obj: Any) -> None:
    session.add(obj)


# -- rules, states, runs, decisions ------------------------------------------------------------


async def rules(session: AsyncSession, account_id: int) -> Sequence[PricingRule]:
    result = await session.execute(
        select(PricingRule).where(PricingRule.account_id == account_id).order_by(PricingRule.id)
    )
    return list(result.scalars())


async def get_rule(session: AsyncSession, rule_id: int) -> PricingRule | None:
    return await session.get(PricingRule, rule_id)


async def delete_rule(session: AsyncSession, rule: PricingRule) -> None:
    await session.delete(rule)


STATE_COLUMNS = (
    "day",
    "changes_today",
    "last_change_at",
    "steps_without_win",
    "paused_at",
    "paused_reason",
    "last_reason",
)


async def states(session: AsyncSession, account_id: int) -> dict[int, dict[str, Any]]:
    """The account's per-offer states as plain dicts, by eMAG id."""
    columns = [getattr(RuleState, c) for c in STATE_COLUMNS]
    connection = await session.connection()
    result = await connection.execute(
        select(RuleState.emag_id, *columns).where(RuleState.account_id == account_id)
    )
    return {row["emag_id"]: dict(row) for row in result.mappings()}


async def save_states(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert or update states (``account_id``, ``emag_id`` and every state column)."""
    for start in range(0, len(rows), 1000):
        await upsert(
            session,
            RuleState.__table__,
            rows[start : start + 1000],
            ["account_id", "emag_id"],
            list(STATE_COLUMNS),
        )


async def state_of(session: AsyncSession, account_id: int, emag_id: int) -> RuleState | None:
    result = await session.execute(
        select(RuleState).where(RuleState.account_id == account_id, RuleState.emag_id == emag_id)
    )
    return result.scalar_one_or_none()


async def get_run(session: AsyncSession, run_id: int) -> PricingRun | None:
    return await session.get(PricingRun, run_id)


async def runs(session: AsyncSession, account_id: int, limit: int) -> Sequence[PricingRun]:
    result = await session.execute(
        select(PricingRun)
        .where(PricingRun.account_id == account_id)
        .order_by(PricingRun.id.desc())
        .limit(limit)
    )
    return list(result.scalars())


async def insert_decisions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 5000):
        await session.execute(insert(_table(PricingDecision)), rows[start : start + 5000])


async def decisions_of_run(session: AsyncSession, run_id: int) -> Sequence[PricingDecision]:
    result = await session.execute(
        select(PricingDecision).where(PricingDecision.run_id == run_id).order_by(PricingDecision.id)
    )
    return list(result.scalars())


async def decisions_of_offer(
    session: AsyncSession, account_id: int, emag_id: int, limit: int
) -> Sequence[PricingDecision]:
    result = await session.execute(
        select(PricingDecision)
        .where(PricingDecision.account_id == account_id, PricingDecision.emag_id == emag_id)
        .order_by(PricingDecision.id.desc())
        .limit(limit)
    )
    return list(result.scalars())


async def set_decision_outcomes(
    session: AsyncSession, run_id: int, outcomes: dict[int, tuple[str, list[str]]]
) -> None:
    """``{emag_id: (outcome, messages)}`` for the changes of run ``run_id``."""
    for emag_id, (outcome, messages) in outcomes.items():
        await session.execute(
            update(PricingDecision)
            .where(
                PricingDecision.run_id == run_id,
                PricingDecision.emag_id == emag_id,
                PricingDecision.action == "change",
            )
            .values(outcome=outcome, messages=messages)
        )


# -- order lines -------------------------------------------------------------------------------


async def watermark(session: AsyncSession, account_id: int) -> OrderLinesWatermark:
    found = await session.get(OrderLinesWatermark, account_id)
    if found is None:
        found = OrderLinesWatermark(account_id=account_id, updated_until=None, last_order_id=0)
        session.add(found)
    return found


async def reset_watermark(session: AsyncSession, account_id: int) -> None:
    await session.execute(
        update(OrderLinesWatermark)
        .where(OrderLinesWatermark.account_id == account_id)
        .values(updated_until=None, last_order_id=0)
    )


async def orders_changed_since(
    session: AsyncSession, account_id: int, since: datetime | None, after_id: int, limit: int
) -> Sequence[EmagOrder]:
    """Orders of the account updated at or after ``since``, by (updated_at, id), a page."""
    query = select(EmagOrder).where(EmagOrder.account_id == account_id)
    if since is not None:
        query = query.where(
            or_(
                EmagOrder.updated_at > since,
                and_(EmagOrder.updated_at == since, EmagOrder.id > after_id),
            )
        )
    query = query.order_by(EmagOrder.updated_at, EmagOrder.id).limit(limit)
    return list((await session.execute(query)).scalars())


async def replace_order_lines(
    session: AsyncSession, order_ids: list[int], rows: list[dict[str, Any]]
) -> None:
    for start in range(0, len(order_ids), CHUNK):
        await session.execute(
            delete(OrderLine).where(OrderLine.order_id.in_(order_ids[start : start + CHUNK]))
        )
    if rows:
        await session.execute(insert(_table(OrderLine)), rows)


async def offer_facts(
    session: AsyncSession, account_id: int, emag_ids: Iterable[int]
) -> dict[int, tuple[int | None, Decimal | None]]:
    """``{emag_id: (category_id, vat_rate)}`` of stored offers."""
    wanted = list(set(emag_ids))
    found: dict[int, tuple[int | None, Decimal | None]] = {}
    for start in range(0, len(wanted), CHUNK):
        result = await session.execute(
            select(EmagOffer.emag_id, EmagOffer.category_id, EmagOffer.vat_rate).where(
                EmagOffer.account_id == account_id,
                EmagOffer.emag_id.in_(wanted[start : start + CHUNK]),
            )
        )
        for emag_id, category_id, vat_rate in result.all():
            found[emag_id] = (category_id, vat_rate)
    return found


REPORT_GROUPS = {
    "day": OrderLine.day,
    "offer": OrderLine.emag_id,
    "category": OrderLine.category_id,
}


NO_KEY = -1  # stands for a NULL offer or category in the top-N join (eMAG ids are positive)


def _sums(key: Any) -> list[Any]:
    return [
        key.label("key"),
        OrderLine.currency,
        func.sum(OrderLine.quantity).label("quantity"),
        func.sum(OrderLine.revenue).label("revenue"),
        func.sum(OrderLine.cost).label("cost"),
        func.sum(OrderLine.commission).label("commission"),
        func.sum(OrderLine.shipping).label("shipping"),
        func.sum(OrderLine.deposit).label("deposit"),
        func.sum(OrderLine.profit).label("profit"),
        func.count().label("lines"),
        func.count(OrderLine.cost).label("lines_with_cost"),
    ]


async def profit_report(
    session: AsyncSession,
    account_ids: Sequence[int] | None,
    group: str,
    date_from: date,
    date_to: date,
    limit: int,
) -> Sequence[Any]:
    """Sums of the order lines per ``group`` and currency between two days (inclusive): every
    day in day order, or the ``limit`` offers or categories of highest profit (then by key and
    currency, so that ties are cut the same way every time on both backends; no offer or
    category last).

    Per offer, the top N is chosen first from ``sum(profit)`` alone, and only its N groups are
    then summed in full. One pass with every sum needs nine ``numeric`` aggregate states per
    group: 5,000 offers over 30 days took ~14.5 MB of hash table, past PostgreSQL's default
    ``work_mem`` (4 MB), so the aggregate spilled to disk in batches (and was not run in
    parallel), where per day (30 groups) or per category (40) it stays in memory. With one sum
    the table is ~2 MB. Both passes read the covering index (``account_id``, ``day``); the
    figures are the same sums, of the same lines, as one pass would give."""
    key = REPORT_GROUPS[group]
    where = [OrderLine.day >= date_from, OrderLine.day <= date_to]
    if account_ids is not None:
        where.append(OrderLine.account_id.in_(account_ids))
    order: list[Any] = [
        func.sum(OrderLine.profit).desc().nulls_last(),
        key.nulls_last(),
        OrderLine.currency,
    ]
    if group == "day":
        query = (
            select(*_sums(key))
            .where(*where)
            .group_by(key, OrderLine.currency)
            .order_by(key, OrderLine.currency)
        )
    elif group == "offer":
        top = (
            select(key.label("key"), OrderLine.currency.label("currency"))
            .where(*where)
            .group_by(key, OrderLine.currency)
            .order_by(*order)
            .limit(limit)
            .cte("top")
        )
        query = (
            select(*_sums(key))
            .join(
                top,
                and_(
                    func.coalesce(key, NO_KEY) == func.coalesce(top.c.key, NO_KEY),
                    OrderLine.currency == top.c.currency,
                ),
            )
            .where(*where)
            .group_by(key, OrderLine.currency)
            .order_by(*order)
        )
    else:
        query = select(*_sums(key)).where(*where).group_by(key, OrderLine.currency).order_by(*order)
    return (await session.execute(query.limit(limit))).all()
