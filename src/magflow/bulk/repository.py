"""Every query of bulk operations, plus the two offer queries they need.

``offers_by_emag_id`` and ``apply_offer_update`` touch ``emag_products_v2``: they belong with the
catalog's queries and can move to ``catalog/repository.py`` unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.bulk.models import BulkOperation, BulkOperationItem, ItemStatus

MAX_INSERT_ROWS = 1000


async def get_operation(session: AsyncSession, operation_id: int) -> BulkOperation | None:
    return await session.get(BulkOperation, operation_id)


async def get_by_idempotency_key(session: AsyncSession, key: str) -> BulkOperation | None:
    result = await session.execute(
        select(BulkOperation).where(BulkOperation.idempotency_key == key)
    )
    return result.scalar_one_or_none()


def add_operation(session: AsyncSession, operation: BulkOperation) -> None:
    session.add(operation)


async def insert_items(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), MAX_INSERT_ROWS):
        await session.execute(insert(BulkOperationItem), rows[start : start + MAX_INSERT_ROWS])


async def list_operations(
    session: AsyncSession, *, offset: int = 0, limit: int = 50
) -> tuple[int, Sequence[BulkOperation]]:
    total = (await session.execute(select(func.count(BulkOperation.id)))).scalar_one()
    rows = await session.execute(
        select(BulkOperation).order_by(BulkOperation.id.desc()).offset(offset).limit(limit)
    )
    return int(total), rows.scalars().all()


@dataclass(frozen=True)
class ItemFilter:
    status: Sequence[str] | None = None
    account_id: int | None = None
    offer_emag_id: int | None = None


def _filtered(query: Select[Any], operation_id: int, f: ItemFilter) -> Select[Any]:
    query = query.where(BulkOperationItem.operation_id == operation_id)
    if f.status:
        query = query.where(BulkOperationItem.status.in_(f.status))
    if f.account_id is not None:
        query = query.where(BulkOperationItem.account_id == f.account_id)
    if f.offer_emag_id is not None:
        query = query.where(BulkOperationItem.offer_emag_id == f.offer_emag_id)
    return query


async def list_items(
    session: AsyncSession,
    operation_id: int,
    filters: ItemFilter,
    *,
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, Sequence[BulkOperationItem]]:
    total = (
        await session.execute(
            _filtered(select(func.count(BulkOperationItem.id)), operation_id, filters)
        )
    ).scalar_one()
    rows = await session.execute(
        _filtered(select(BulkOperationItem), operation_id, filters)
        .order_by(BulkOperationItem.position)
        .offset(offset)
        .limit(limit)
    )
    return int(total), rows.scalars().all()


async def pending_items(session: AsyncSession, operation_id: int) -> Sequence[BulkOperationItem]:
    rows = await session.execute(
        select(BulkOperationItem)
        .where(
            BulkOperationItem.operation_id == operation_id,
            BulkOperationItem.status == ItemStatus.pending.value,
        )
        .order_by(BulkOperationItem.position)
    )
    return rows.scalars().all()


async def count_by_status(session: AsyncSession, operation_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(BulkOperationItem.status, func.count(BulkOperationItem.id))
        .where(BulkOperationItem.operation_id == operation_id)
        .group_by(BulkOperationItem.status)
    )
    return {status: int(n) for status, n in rows.all()}


async def set_item_status(
    session: AsyncSession,
    operation_id: int,
    from_status: str,
    to_status: str,
    messages: list[str] | None = None,
) -> int:
    values: dict[str, Any] = {"status": to_status, "updated_at": datetime.now(UTC)}
    if messages is not None:
        values["messages"] = messages
    result = await session.execute(
        update(BulkOperationItem)
        .where(
            BulkOperationItem.operation_id == operation_id,
            BulkOperationItem.status == from_status,
        )
        .values(**values)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def update_item(
    session: AsyncSession, item_id: int, *, status: str, messages: list[str], attempts: int
) -> None:
    await session.execute(
        update(BulkOperationItem)
        .where(BulkOperationItem.id == item_id)
        .values(status=status, messages=messages, attempts=attempts, updated_at=datetime.now(UTC))
    )
