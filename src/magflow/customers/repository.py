"""Every query on ``emag_customers``, ``emag_customer_accounts`` and ``emag_customer_spend``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.customers import analytics, analytics_sql
from magflow.customers.models import (
    NO_CURRENCY,
    EmagCustomer,
    EmagCustomerAccount,
    EmagCustomerSpend,
)
from magflow.customers.schemas import STORED_FIELDS
from magflow.db.limits import fit_rows
from magflow.db.query import (
    Record,
    as_bigint,
    column_select,
    fetch_page,
    fetch_records,
    like_pattern,
)
from magflow.db.upsert import cached_statement, pg_json_insert

_COUNTERS = [
    "orders_count",
    "total_spent",
    "cancelled_count",
    "returned_count",
    "cod_count",
    "main_orders",
    "fbe_orders",
]


async def apply_customer_deltas(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> dict[str, int]:
    """Add each row's counters to its customer (created when new); returns ids by key.

    Identity fields (name, email, phone) take the latest non-null value; first/last order dates
    widen only, so applying the same order twice leaves them as they were.
    """
    if not rows:
        return {}
    table = EmagCustomer.__table__
    rows = fit_rows(table, rows)  # type: ignore[arg-type]  # SQLite's path writes them directly
    if session.get_bind().dialect.name == "postgresql":
        counters = ", ".join(f"{c} = emag_customers.{c} + EXCLUDED.{c}" for c in _COUNTERS)
        result = await pg_json_insert(
            session,
            table,
            rows,
            "ON CONFLICT (customer_key) DO UPDATE SET "
            f"{counters}, "
            "name = COALESCE(EXCLUDED.name, emag_customers.name), "
            "email_hash = COALESCE(EXCLUDED.email_hash, emag_customers.email_hash), "
            "phone = COALESCE(EXCLUDED.phone, emag_customers.phone), "
            "first_order_at = LEAST(emag_customers.first_order_at, EXCLUDED.first_order_at), "
            "last_order_at = GREATEST(emag_customers.last_order_at, EXCLUDED.last_order_at), "
            "updated_at = EXCLUDED.updated_at "
            "RETURNING customer_key, id",
        )
        return {key: customer_id for key, customer_id in result.all()}

    def build(statement: Any) -> Any:
        excluded = statement.excluded
        return statement.on_conflict_do_update(
            index_elements=["customer_key"],
            set_={
                **{name: table.c[name] + excluded[name] for name in _COUNTERS},
                "name": case((excluded.name.is_(None), table.c.name), else_=excluded.name),
                "email_hash": case(
                    (excluded.email_hash.is_(None), table.c.email_hash), else_=excluded.email_hash
                ),
                "phone": case((excluded.phone.is_(None), table.c.phone), else_=excluded.phone),
                "first_order_at": case(
                    (table.c.first_order_at.is_(None), excluded.first_order_at),
                    (excluded.first_order_at < table.c.first_order_at, excluded.first_order_at),
                    else_=table.c.first_order_at,
                ),
                "last_order_at": case(
                    (table.c.last_order_at.is_(None), excluded.last_order_at),
                    (excluded.last_order_at > table.c.last_order_at, excluded.last_order_at),
                    else_=table.c.last_order_at,
                ),
                "updated_at": excluded.updated_at,
            },
        ).returning(table.c.customer_key, table.c.id)

    statement = cached_statement(session, table, "apply-deltas", build)
    result = await session.execute(statement, rows)
    return {key: customer_id for key, customer_id in result.all()}


async def _add_counts(
    session: AsyncSession, table: Any, key: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """Add each row's ``orders_count`` and ``total_spent`` to the row of ``table`` with the same
    ``key`` columns (inserted when new): the customer aggregates move by deltas."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        await pg_json_insert(
            session,
            table,
            rows,
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            f"orders_count = {table.name}.orders_count + EXCLUDED.orders_count, "
            f"total_spent = {table.name}.total_spent + EXCLUDED.total_spent",
        )
        return

    def build(statement: Any) -> Any:
        return statement.on_conflict_do_update(
            index_elements=list(key),
            set_={
                "orders_count": table.c.orders_count + statement.excluded.orders_count,
                "total_spent": table.c.total_spent + statement.excluded.total_spent,
            },
        ).returning(table.c.id)

    statement = cached_statement(session, table, "apply-deltas", build)
    await session.execute(statement, rows)


async def apply_account_deltas(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await _add_counts(session, EmagCustomerAccount.__table__, ("customer_id", "account_id"), rows)


# -- spend per currency (issue 13, point 7) --------------------------------------------------------


async def apply_spend_deltas(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Add each row's ``orders_count``/``total_spent`` to its (customer, account, currency)."""
    key = ("customer_id", "account_id", "currency")
    await _add_counts(session, EmagCustomerSpend.__table__, key, rows)


async def recompute_spent(session: AsyncSession, customer_ids: Sequence[int]) -> None:
    """Set ``total_spent`` and ``spent_orders`` of these customers from their spend in their own
    currency (``emag_customer_spend``): amounts in other currencies are never added in."""
    if not customer_ids:
        return
    c, s = EmagCustomer, EmagCustomerSpend
    in_currency = and_(s.customer_id == c.id, s.currency == func.coalesce(c.currency, NO_CURRENCY))
    await session.execute(
        update(c)
        .where(c.id.in_(sorted(customer_ids)))
        .values(
            total_spent=func.coalesce(
                select(func.sum(s.total_spent)).where(in_currency).scalar_subquery(), 0
            ),
            spent_orders=func.coalesce(
                select(func.sum(s.orders_count)).where(in_currency).scalar_subquery(), 0
            ),
        )
        .execution_options(synchronize_session=False)
    )


async def other_currency_spend(
    session: AsyncSession, account_ids: Sequence[int] | None = None
) -> dict[str, tuple[int, Decimal]]:
    """Kept orders and their total per currency, of the orders whose currency is not their
    customer's (so not in any ``total_spent``), over every customer (on ``account_ids``)."""
    s, c = EmagCustomerSpend, EmagCustomer
    query = (
        select(s.currency, func.sum(s.orders_count), func.sum(s.total_spent))
        .join(c, c.id == s.customer_id)
        .where(s.currency != func.coalesce(c.currency, NO_CURRENCY))
        .group_by(s.currency)
    )
    if account_ids is not None:
        query = query.where(s.account_id.in_(list(account_ids)))
    result = await session.execute(query)
    return {
        currency: (int(orders or 0), Decimal(str(total or 0))) for currency, orders, total in result
    }


async def customer_spend(session: AsyncSession, customer_id: int) -> Sequence[EmagCustomerSpend]:
    result = await session.execute(
        select(EmagCustomerSpend)
        .where(EmagCustomerSpend.customer_id == customer_id)
        .order_by(EmagCustomerSpend.account_id, EmagCustomerSpend.currency)
    )
    return result.scalars().all()


# -- analytics queries (read-only; formulas in ``customers.analytics``) -------------------------


@dataclass(frozen=True)
class CustomerFilter:
    """Filters of the customers listing; every one is a SQL condition on ``emag_customers``."""

    now: datetime
    config: analytics.AnalyticsConfig = analytics.DEFAULT_CONFIG
    account_ids: Sequence[int] | None = None
    search: str | None = None
    tiers: Sequence[str] = ()
    risks: Sequence[str] = ()
    channels: Sequence[str] = ()
    loyalty_min: int | None = None
    loyalty_max: int | None = None
    min_orders: int | None = None


def _conditions(f: CustomerFilter) -> list[ColumnElement[bool]]:
    c = EmagCustomer
    conditions: list[ColumnElement[bool]] = []
    if f.account_ids is not None:
        conditions.append(
            c.id.in_(
                select(EmagCustomerAccount.customer_id).where(
                    EmagCustomerAccount.account_id.in_(f.account_ids)
                )
            )
        )
    if f.search:
        text = f.search.strip()
        pattern = like_pattern(text)
        prefix = like_pattern(text)[1:]  # "abc%": starts with
        options: list[ColumnElement[bool]] = [
            func.lower(c.name).like(pattern, escape="\\"),
            c.customer_key == text,
            func.lower(c.customer_key).like(prefix, escape="\\"),
            func.lower(c.email_hash).like(prefix, escape="\\"),
        ]
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 3:
            options.append(c.phone.like(f"%{digits}%"))
        customer_id = as_bigint(text)
        if customer_id is not None:
            options.append(c.emag_customer_id == customer_id)
        conditions.append(or_(*options))
    if f.tiers:
        conditions.append(or_(*[analytics_sql.tier_condition(t, f.config) for t in f.tiers]))
    if f.risks:
        conditions.append(or_(*[analytics_sql.risk_condition(r, f.config) for r in f.risks]))
    if f.channels:
        conditions.append(analytics_sql.channel_sql(f.config).in_(list(f.channels)))
    if f.loyalty_min is not None:
        conditions.append(analytics_sql.loyalty_at_least(f.loyalty_min, f.now, f.config))
    if f.loyalty_max is not None:
        conditions.append(~analytics_sql.loyalty_at_least(f.loyalty_max + 1, f.now, f.config))
    if f.min_orders is not None:
        conditions.append(c.orders_count >= f.min_orders)
    return conditions


def customer_sort_columns(
    sort: str, now: datetime, config: analytics.AnalyticsConfig
) -> ColumnElement[Any]:
    """The ORDER BY expression of a sort key. ``spend``, ``last_order`` and ``first_order``
    follow an index; ``orders`` too once ``ix_emag_customers_orders_count`` exists; the
    computed ones (loyalty, risk, aov) are one pass over the table with a top-N sort."""
    c = EmagCustomer
    # Built on demand: the computed expressions take longer to build than the query to run.
    columns: dict[str, Callable[[], ColumnElement[Any]]] = {
        "spend": lambda: c.total_spent,  # type: ignore[dict-item,return-value]
        "orders": lambda: c.orders_count,  # type: ignore[dict-item,return-value]
        "last_order": lambda: c.last_order_at,  # type: ignore[dict-item,return-value]
        "first_order": lambda: c.first_order_at,  # type: ignore[dict-item,return-value]
        "name": lambda: c.name,  # type: ignore[dict-item,return-value]
        "id": lambda: c.id,  # type: ignore[dict-item,return-value]
        "loyalty": lambda: analytics_sql.loyalty_sql(now, config),
        "risk": lambda: analytics_sql.risk_sql(config),
        "aov": analytics_sql.average_order_value_sql,
    }
    return columns[sort]()


#: The customers listing's sort keys (its ``sort`` parameter, and the export's).
CustomerSort = Literal[
    "spend", "orders", "last_order", "first_order", "loyalty", "risk", "aov", "name", "id"
]


def narrows(f: CustomerFilter) -> bool:
    """Whether the filter selects fewer customers than its accounts have (anything but
    ``account_ids`` is set)."""
    return bool(
        f.search
        or f.tiers
        or f.risks
        or f.channels
        or f.loyalty_min is not None
        or f.loyalty_max is not None
        or f.min_orders is not None
    )


async def count_customers(session: AsyncSession, filters: CustomerFilter) -> int:
    result = await session.execute(count_query(filters))
    return int(result.scalar_one())


def apply_filter(query: Select[Any], filters: CustomerFilter) -> Select[Any]:
    """``query`` restricted to the customers the filter selects."""
    return query.where(*_conditions(filters))


def ordering(filters: CustomerFilter, sort: str, descending: bool) -> list[ColumnElement[Any]]:
    """``ORDER BY <sort>, id`` (the id makes pages and exports stable)."""
    column = customer_sort_columns(sort, filters.now, filters.config)
    tiebreak = EmagCustomer.id.desc() if descending else EmagCustomer.id.asc()
    return [column.desc() if descending else column.asc(), tiebreak]


def customers_query(
    filters: CustomerFilter, *, sort: str = "spend", descending: bool = True
) -> Select[Any]:
    """``WHERE <filters> ORDER BY <sort>, id``: the listing pages it, the export streams it."""
    return _ordered(select(EmagCustomer), filters, sort, descending)


def _ordered(
    query: Select[Any], filters: CustomerFilter, sort: str, descending: bool
) -> Select[Any]:
    return apply_filter(query, filters).order_by(*ordering(filters, sort, descending))


def count_query(filters: CustomerFilter) -> Select[Any]:
    return apply_filter(select(func.count()).select_from(EmagCustomer), filters)


#: The columns a listing row is made of (``customers.schemas.customer_fields`` and the
#: formulas): not the row's own timestamps, two more times to parse per row for nothing.
LISTING_COLUMNS = STORED_FIELDS


async def page_customers(
    session: AsyncSession,
    filters: CustomerFilter,
    *,
    sort: str = "spend",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> Sequence[EmagCustomer]:
    """One page of :func:`customers_query`: the :data:`LISTING_COLUMNS` of each, read without
    the ORM (:func:`magflow.db.query.fetch_records`). Each reads like an ``EmagCustomer``, one
    attribute per column, which is all :func:`magflow.customers.schemas.customer_out` and the
    formulas use; they are typed as such for them (none is an ORM object: nothing to load or
    change on them)."""

    def build() -> Select[Any]:
        return _ordered(column_select(EmagCustomer, LISTING_COLUMNS), filters, sort, descending)

    if not depends_on_now(filters, sort):
        # The statement is kept per filters and sort (``db.query.page_statement``): building it
        # and deriving its cache key were a tenth of the listing's CPU.
        key = ("emag_customers", sort, descending, _key_without_now(filters))
        found = await fetch_page(session, key, build, offset=offset, limit=limit)
        return cast("Sequence[EmagCustomer]", [Record(**row) for row in found])
    rows = await fetch_records(session, build().offset(offset).limit(limit))
    return cast("Sequence[EmagCustomer]", rows)


def depends_on_now(filters: CustomerFilter, sort: str) -> bool:
    """Whether the listing's SQL holds the request's time: the loyalty score (its recency part)
    does, in a loyalty filter or sort. Such a statement is built for each request."""
    return sort == "loyalty" or filters.loyalty_min is not None or filters.loyalty_max is not None


def _key_without_now(f: CustomerFilter) -> tuple[Any, ...]:
    """Everything the statement of :func:`page_customers` depends on, but the time."""
    return (
        f.config.fingerprint(),
        None if f.account_ids is None else tuple(f.account_ids),
        f.search,
        tuple(f.tiers),
        tuple(f.risks),
        tuple(f.channels),
        f.min_orders,
    )


async def list_customers(
    session: AsyncSession,
    filters: CustomerFilter,
    *,
    sort: str = "spend",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, Sequence[EmagCustomer]]:
    """How many customers match, and one page of them."""
    total = await count_customers(session, filters)
    rows = await page_customers(
        session, filters, sort=sort, descending=descending, offset=offset, limit=limit
    )
    return total, rows


async def customer_segments(
    session: AsyncSession,
    now: datetime,
    config: analytics.AnalyticsConfig = analytics.DEFAULT_CONFIG,
    account_ids: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """The summary's counts in one aggregate pass over ``emag_customers``, one row per currency.

    Each row: the customers, their orders and spend, the active, new and repeat ones, and per
    tier, channel, risk level and loyalty band how many customers (``SUM(CASE ...)``).

    The inner query computes each formula once per customer (``OFFSET 0`` keeps PostgreSQL from
    inlining it, which would repeat the loyalty expression in every band's CASE); the outer one
    only compares those results. No join, no sort. On PostgreSQL, JIT compilation is turned off
    for the aggregate: at 200,000 customers it costs more than the whole aggregate. With ``SET``
    and ``RESET``, not ``SET LOCAL``: the listing's read session runs each statement in a
    transaction of its own (autocommit), where ``SET LOCAL`` does nothing."""
    c = EmagCustomer
    postgresql = session.get_bind().dialect.name == "postgresql"
    conditions = _conditions(CustomerFilter(now=now, config=config, account_ids=account_ids))
    per_customer = (
        select(
            c.currency,
            analytics_sql.tier_sql(config).label("tier"),
            analytics_sql.channel_sql(config).label("channel"),
            analytics_sql.risk_sql(config).label("risk"),
            analytics_sql.loyalty_score_sql(now, config).label("loyalty"),
            case((c.last_order_at >= analytics.active_since(now, config), 1), else_=0).label(
                "active"
            ),
            case((c.first_order_at >= analytics.month_start(now), 1), else_=0).label("new"),
            case((analytics_sql.repeat_sql(config), 1), else_=0).label("repeat"),
            c.orders_count,
            c.cancelled_count,
            c.returned_count,
            c.total_spent,
        )
        .where(*conditions)
        .offset(0)
        .subquery("per_customer")
    )
    p = per_customer.c

    def count_if(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    risk_bounds = {
        "low": (None, config.risk_medium),
        "medium": (config.risk_medium, config.risk_high),
        "high": (config.risk_high, None),
    }
    band_bounds = [
        (name, lower, upper)
        for (lower, name), upper in zip(
            analytics.LOYALTY_BANDS,
            [None, *[lower for lower, _ in analytics.LOYALTY_BANDS[:-1]]],
            strict=True,
        )
    ]

    def within(column: Any, lower: Any, upper: Any) -> ColumnElement[bool]:
        parts = [column >= lower] if lower is not None else []
        parts += [column < upper] if upper is not None else []
        return and_(*parts) if parts else literal(True)

    query = select(
        p.currency,
        func.count().label("customers"),
        func.coalesce(func.sum(p.orders_count), 0).label("orders"),
        func.coalesce(func.sum(p.cancelled_count), 0).label("cancelled"),
        func.coalesce(func.sum(p.returned_count), 0).label("returned"),
        func.coalesce(func.sum(p.total_spent), 0).label("spent"),
        func.coalesce(func.sum(p.active), 0).label("active"),
        func.coalesce(func.sum(p.new), 0).label("new"),
        func.coalesce(func.sum(p.repeat), 0).label("repeat"),
        *[count_if(p.tier == name).label(f"tier:{name}") for name in analytics.TIERS],
        *[count_if(p.channel == name).label(f"channel:{name}") for name in analytics.CHANNELS],
        *[
            count_if(within(p.risk, *risk_bounds[level])).label(f"risk:{level}")
            for level in analytics.RISK_LEVELS
        ],
        *[
            count_if(within(p.loyalty, lower, upper)).label(f"band:{name}")
            for name, lower, upper in band_bounds
        ],
    ).group_by(p.currency)
    if postgresql:
        await session.execute(text("SET jit = off"))
    result = await session.execute(query)
    segments = [dict(row._mapping) for row in result]
    if postgresql:
        # (After a failure an ordinary session's rollback undoes the SET; a read session's
        # connection keeps JIT off, which costs MagFlow's queries nothing.)
        await session.execute(text("RESET jit"))
    return segments


async def get_customer(session: AsyncSession, customer_id: int) -> EmagCustomer | None:
    return await session.get(EmagCustomer, customer_id)


async def customer_accounts(
    session: AsyncSession, customer_id: int
) -> Sequence[EmagCustomerAccount]:
    result = await session.execute(
        select(EmagCustomerAccount)
        .where(EmagCustomerAccount.customer_id == customer_id)
        .order_by(EmagCustomerAccount.account_id)
    )
    return result.scalars().all()
