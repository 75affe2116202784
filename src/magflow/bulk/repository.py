"""Every query of bulk operations, plus the two offer queries they need.

``offers_by_emag_id`` and ``apply_offer_update`` touch ``emag_products_v2``: they belong with the
catalog's queries and can move to ``catalog/repository.py`` unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.bulk.models import BulkOperation, BulkOperationItem, OperationStatus

MAX_INSERT_ROWS = 1000
ACTIVE = (OperationStatus.queued.value, OperationStatus.running.value)


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


async def items_in(
    session: AsyncSession, operation_id: int, statuses: Sequence[str]
) -> Sequence[BulkOperationItem]:
    """The operation's items in any of ``statuses``, in request order."""
    rows = await session.execute(
        select(BulkOperationItem)
        .where(
            BulkOperationItem.operation_id == operation_id,
            BulkOperationItem.status.in_(statuses),
        )
        .order_by(BulkOperationItem.position)
    )
    return rows.scalars().all()


async def mark_items(session: AsyncSession, item_ids: Sequence[int], status: str) -> None:
    await session.execute(
        update(BulkOperationItem)
        .where(BulkOperationItem.id.in_(item_ids))
        .values(status=status, updated_at=datetime.now(UTC))
    )


# --- the claim of the process executing an operation (as for sync runs) ---------------------------


async def claim(
    session: AsyncSession, operation_id: int, worker_id: str, stale_before: datetime
) -> bool:
    """Take ``operation_id`` for ``worker_id`` if nobody holds it or its holder went quiet.

    One atomic UPDATE: of two processes racing for the same operation exactly one sees rowcount 1.
    """
    result = await session.execute(
        update(BulkOperation)
        .where(
            BulkOperation.id == operation_id,
            BulkOperation.status.in_(ACTIVE),
            or_(
                BulkOperation.worker_id.is_(None),
                BulkOperation.heartbeat_at.is_(None),
                BulkOperation.heartbeat_at < stale_before,
            ),
        )
        .values(worker_id=worker_id, heartbeat_at=datetime.now(UTC))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def beat(session: AsyncSession, operation_id: int, worker_id: str) -> bool:
    """Renew the claim; False when ``worker_id`` no longer holds it (another process took over)."""
    result = await session.execute(
        update(BulkOperation)
        .where(BulkOperation.id == operation_id, BulkOperation.worker_id == worker_id)
        .values(heartbeat_at=datetime.now(UTC))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, operation_id: int, worker_id: str) -> None:
    """Give the claim back (clean shutdown): the next process to look resumes at once."""
    await session.execute(
        update(BulkOperation)
        .where(BulkOperation.id == operation_id, BulkOperation.worker_id == worker_id)
        .values(worker_id=None, heartbeat_at=None)
    )


async def requeue(
    session: AsyncSession,
    operation_id: int,
    stale_before: datetime,
    *,
    requested_by_id: int | None,
    requested_by_email: str | None,
) -> bool:
    """Queue a finished operation again (a retry), or one whose holder went quiet. False while a
    live process holds it, or a queued one waits to start: one atomic UPDATE decides."""
    result = await session.execute(
        update(BulkOperation)
        .where(
            BulkOperation.id == operation_id,
            or_(
                not_(BulkOperation.status.in_(ACTIVE)),
                func.coalesce(BulkOperation.heartbeat_at, BulkOperation.updated_at) < stale_before,
            ),
        )
        .values(
            status=OperationStatus.queued.value,
            worker_id=None,
            heartbeat_at=None,
            finished_at=None,
            requested_by_id=requested_by_id,
            requested_by_email=requested_by_email,
            updated_at=datetime.now(UTC),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def stalled_operations(session: AsyncSession, stale_before: datetime) -> Sequence[int]:
    """Active operations nobody is executing: their holder's heartbeat stopped (process died),
    the claim was released (clean shutdown), or they were queued and never picked up."""
    rows = await session.execute(
        select(BulkOperation.id)
        .where(
            BulkOperation.status.in_(ACTIVE),
            or_(
                func.coalesce(BulkOperation.heartbeat_at, BulkOperation.created_at) < stale_before,
                BulkOperation.worker_id.is_(None)
                & (BulkOperation.status == OperationStatus.running.value),
            ),
        )
        .order_by(BulkOperation.id)
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


async def update_items(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Several items' ``status``, ``messages`` and ``attempts`` (rows with ``item_id`` too) in
    one executemany: psycopg pipelines it, where one UPDATE per item costs a round trip each."""
    if not rows:
        return
    now = datetime.now(UTC)
    await session.connection()  # the session's transaction, as for any other statement
    await session.execute(
        update(BulkOperationItem.__table__)  # type: ignore[arg-type]
        .where(BulkOperationItem.__table__.c.id == bindparam("item_id"))
        .values(
            status=bindparam("status"),
            messages=bindparam("messages"),
            attempts=bindparam("attempts"),
            updated_at=now,
        ),
        rows,
    )


async def update_item(
    session: AsyncSession, item_id: int, *, status: str, messages: list[str], attempts: int
) -> None:
    await session.execute(
        update(BulkOperationItem)
        .where(BulkOperationItem.id == item_id)
        .values(status=status, messages=messages, attempts=attempts, updated_at=datetime.now(UTC))
    )
