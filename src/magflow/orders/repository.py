"""Every query on ``emag_orders``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.db.query import like_pattern
from magflow.db.upsert import upsert
from magflow.orders.models import EmagOrder

_SYNC_COLUMNS = [
    c.name
    for c in EmagOrder.__table__.columns
    if c.name not in {"id", "account_id", "emag_id", "created_at", "acknowledged_at", "awb_number"}
]


async def existing_by_emag_id(
    session: AsyncSession, account_id: int, emag_ids: list[int]
) -> dict[int, EmagOrder]:
    result = await session.execute(
        select(EmagOrder).where(EmagOrder.account_id == account_id, EmagOrder.emag_id.in_(emag_ids))
    )
    return {order.emag_id: order for order in result.scalars()}


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
        if search.isdigit():
            conditions.append(EmagOrder.emag_id == int(search))
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


async def list_orders(
    session: AsyncSession,
    filters: OrderFilter,
    *,
    sort: str = "order_date",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, Sequence[EmagOrder]]:
    total = (
        await session.execute(apply_filter(select(func.count(EmagOrder.id)), filters))
    ).scalar_one()
    column = SORTABLE[sort]
    rows = await session.execute(
        apply_filter(select(EmagOrder), filters)
        .order_by(column.desc() if descending else column.asc(), EmagOrder.id)
        .offset(offset)
        .limit(limit)
    )
    return int(total), rows.scalars().all()


async def get_order(session: AsyncSession, order_id: int) -> EmagOrder | None:
    return await session.get(EmagOrder, order_id)
