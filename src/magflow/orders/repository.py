"""Every query on ``emag_orders``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.db.query import as_bigint, fetch_sorted_page, like_pattern, one_of
from magflow.db.upsert import upsert
from magflow.emag.codes import OrderStatus
from magflow.orders.models import EmagOrder

#: Columns MagFlow owns (set by its own actions, never by a sync): left alone by the upsert.
_LOCAL_COLUMNS = {"id", "account_id", "emag_id", "created_at", "acknowledged_at", "awb_number"}
#: The AWB's eMAG ids, kept by ``orders.actions.create_awb``.
_LOCAL_COLUMNS |= {"awb_emag_id", "awb_reservation_id"}

_SYNC_COLUMNS = [c.name for c in EmagOrder.__table__.columns if c.name not in _LOCAL_COLUMNS]


def invoice_missing(account_ids: Sequence[int] | None = None) -> ColumnElement[bool]:
    """Orders that still need an invoice: finalized (status 4) and known to have no invoice
    attachment (``has_invoice`` false; docs/emag-protocol.md, "Attachments and invoices").

    The one definition of "invoice missing": the to-do list (:mod:`magflow.intake.todo`) and
    the invoicing queue use it, so that they always agree. ``has_invoice`` follows every invoice
    attached by anyone (read from eMAG by the sync, set locally when MagFlow attaches one:
    :meth:`magflow.orders.models.EmagOrder._attachments_set`); null (an order stored before
    migration 0013, not read since) is not known to miss one. It is also the predicate of the
    partial index ``ix_emag_orders_invoice_missing``, written so that the planner can use the
    index (``== False``: ``IS false`` or ``NOT has_invoice`` would not match it)."""
    where = and_(EmagOrder.status == int(OrderStatus.FINALIZED), EmagOrder.has_invoice == False)  # noqa: E712
    if account_ids is not None:
        where = and_(EmagOrder.account_id.in_(account_ids), where)
    return where


_KNOWN_COLUMNS = (
    EmagOrder.emag_id,
    EmagOrder.account_id,
    EmagOrder.status,
    EmagOrder.status_history,
    EmagOrder.customer_key,
    EmagOrder.order_type,
    EmagOrder.payment_mode_id,
    EmagOrder.total_with_vat,
    EmagOrder.order_date,
    EmagOrder.currency,
)


async def known_orders(
    session: AsyncSession, account_id: int, emag_ids: list[int]
) -> dict[int, Row[Any]]:
    """What a sync needs of the stored orders among ``emag_ids`` (status, history and what they
    contribute to their customer), by eMAG id; their payloads are not loaded."""
    result = await session.execute(
        select(*_KNOWN_COLUMNS).where(
            EmagOrder.account_id == account_id, one_of(session, EmagOrder.emag_id, emag_ids)
        )
    )
    return {order.emag_id: order for order in result}


async def upsert_orders(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await upsert(
        session,
        EmagOrder.__table__,
        rows,  # type: ignore[arg-type]
        ["account_id", "emag_id"],
        _SYNC_COLUMNS,
    )


@dataclass(frozen=True)
class OrderFilter:
    account_ids: Sequence[int] | None = None
    status: Sequence[int] | None = None
    order_type: int | None = None
    search: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    customer_key: str | None = None


def apply_filter(query: Select[Any], f: OrderFilter) -> Select[Any]:
    account_ids, status, order_type, search = f.account_ids, f.status, f.order_type, f.search
    date_from, date_to, customer_key = f.date_from, f.date_to, f.customer_key
    if account_ids is not None:
        query = query.where(EmagOrder.account_id.in_(account_ids))
    if status:
        query = query.where(EmagOrder.status.in_(status))
    if order_type is not None:
        query = query.where(EmagOrder.order_type == order_type)
    if date_from is not None:
        query = query.where(EmagOrder.order_date >= date_from)
    if date_to is not None:
        query = query.where(EmagOrder.order_date < date_to)
    if customer_key is not None:
        query = query.where(EmagOrder.customer_key == customer_key)
    if search:
        conditions: list[ColumnElement[bool]] = [
            func.lower(EmagOrder.customer_name).like(like_pattern(search), escape="\\")
        ]
        emag_id = as_bigint(search)
        if emag_id is not None:
            conditions.append(EmagOrder.emag_id == emag_id)
        query = query.where(or_(*conditions))
    return query


SORTABLE = {
    "id": EmagOrder.id,
    "emag_id": EmagOrder.emag_id,
    "order_date": EmagOrder.order_date,
    "status": EmagOrder.status,
    "total": EmagOrder.total_with_vat,
    "modified": EmagOrder.emag_modified_at,
}


async def count_orders(session: AsyncSession, filters: OrderFilter) -> int:
    total = (
        await session.execute(apply_filter(select(func.count(EmagOrder.id)), filters))
    ).scalar_one()
    return int(total)


async def page_orders(
    session: AsyncSession,
    filters: OrderFilter,
    columns: tuple[str, ...],
    *,
    sort: str = "order_date",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """One page, ``ORDER BY <sort>, id``: the ``columns`` of each order, as plain dicts (see
    :func:`magflow.db.query.fetch_sorted_page`)."""

    return await fetch_sorted_page(
        session,
        EmagOrder,
        filters,
        columns,
        apply_filter,
        SORTABLE[sort],
        descending=descending,
        offset=offset,
        limit=limit,
    )


async def list_orders(
    session: AsyncSession,
    filters: OrderFilter,
    columns: tuple[str, ...],
    *,
    sort: str = "order_date",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[dict[str, Any]]]:
    """How many orders match, and one page of them (see :func:`page_orders`)."""
    total = await count_orders(session, filters)
    rows = await page_orders(
        session,
        filters,
        columns,
        sort=sort,
        descending=descending,
        offset=offset,
        limit=limit,
    )
    return total, rows


async def get_order(session: AsyncSession, order_id: int) -> EmagOrder | None:
    return await session.get(EmagOrder, order_id)


#: Statuses whose orders bring no revenue (as customer spend counts them: customers.service).
NO_REVENUE_STATUSES = (OrderStatus.CANCELLED, OrderStatus.RETURNED)


def _utc_hour(session: AsyncSession) -> ColumnElement[Any]:
    """``order_date`` cut to its UTC hour. Stored values are UTC (``UTCDateTime``); SQLite keeps
    them as ``YYYY-MM-DD HH:MM:SS`` text, PostgreSQL as ``timestamptz``."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", EmagOrder.order_date))
    return func.strftime("%Y-%m-%d %H:00:00", EmagOrder.order_date)


async def hourly_totals(
    session: AsyncSession, since: datetime, account_ids: Sequence[int] | None = None
) -> list[tuple[int, datetime, str | None, int, Decimal]]:
    """(account id, UTC hour, currency, orders of every status, revenue) for the orders placed
    since ``since``; revenue leaves out cancelled and returned orders.

    Hours rather than days, so that the caller can lay them on any calendar whose zone is a
    whole number of hours from UTC (every eMAG platform's is) without a per-zone query."""
    hour = _utc_hour(session)
    revenue = func.sum(EmagOrder.total_with_vat).filter(
        EmagOrder.status.not_in([int(s) for s in NO_REVENUE_STATUSES])
    )
    query = (
        select(EmagOrder.account_id, hour, EmagOrder.currency, func.count(EmagOrder.id), revenue)
        .where(EmagOrder.order_date >= since)
        .group_by(EmagOrder.account_id, hour, EmagOrder.currency)
    )
    if account_ids is not None:
        query = query.where(EmagOrder.account_id.in_(account_ids))
    rows = []
    for account_id, raw_hour, currency, count, total in await session.execute(query):
        at = raw_hour if isinstance(raw_hour, datetime) else datetime.fromisoformat(str(raw_hour))
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        rows.append((int(account_id), at, currency, int(count), Decimal(total or 0)))
    return rows
