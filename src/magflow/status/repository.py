"""Every query of the status routes: the liveness probe of ``/health`` and the per-account counts
and runs of the enhanced status (read at request time, never stored)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.catalog.models import EmagOffer
from magflow.emag.codes import OfferStatus, OrderStatus, OrderType
from magflow.orders.models import EmagOrder
from magflow.status.schemas import OfferCounts, OrderCounts
from magflow.sync.models import SyncLog, SyncStatus

#: ``offer_validation_status`` of an offer whose price eMAG validated
# (docs/emag-protocol.md, "Offers").
OFFER_VALIDATED = 1
#: validation_status values of a sellable offer (docs/emag-protocol.md, "Offers").
SELLABLE_VALIDATION_STATUSES = (3, 9, 11, 12)
#: The statuses of a run that ended.
FINISHED = (
    SyncStatus.completed.value,
    SyncStatus.partial.value,
    SyncStatus.failed.value,
    SyncStatus.cancelled.value,
)


# -- /health -------------------------------------------------------------------------------------


async def database_revision(session: AsyncSession) -> str | None:
    """Checks the database answers, then reads its migration revision (None: never migrated)."""
    await session.execute(text("SELECT 1"))
    try:
        result = await session.execute(text("SELECT version_num FROM alembic_version"))
    except Exception:  # no alembic_version table: never migrated
        return None
    revision: str | None = result.scalar_one_or_none()
    return revision


# -- enhanced status -----------------------------------------------------------------------------


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def order_status_name(code: int) -> str:
    """The ``by_status`` key of an order status: ``in_progress``; an unknown code as digits."""
    try:
        return OrderStatus(code).name.lower()
    except ValueError:
        return str(code)


async def offer_counts(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, OfferCounts]:
    p = EmagOffer
    present = p.missing_since.is_(None)
    active = and_(present, p.status == OfferStatus.ACTIVE)
    result = await session.execute(
        select(
            p.account_id,
            _count_if(present),
            _count_if(active),
            _count_if(
                and_(
                    active,
                    p.stock_total > 0,
                    p.offer_validation_status == OFFER_VALIDATED,
                    p.validation_status.in_(SELLABLE_VALIDATION_STATUSES),
                )
            ),
            _count_if(and_(active, p.stock_total <= 0)),
            _count_if(~present),
        )
        .where(p.account_id.in_(account_ids))
        .group_by(p.account_id)
    )
    return {
        row[0]: OfferCounts(
            total=row[1], active=row[2], sellable=row[3], out_of_stock=row[4], missing=row[5]
        )
        for row in result
    }


async def order_counts(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, OrderCounts]:
    """Stored orders per account: by status, and those waiting for the seller's acknowledgement
    (new and fulfilled by the seller: eMAG acknowledges FBE orders, docs/emag-protocol.md,
    "Orders")."""
    result = await session.execute(
        select(EmagOrder.account_id, EmagOrder.status, EmagOrder.order_type, func.count())
        .where(EmagOrder.account_id.in_(account_ids))
        .group_by(EmagOrder.account_id, EmagOrder.status, EmagOrder.order_type)
    )
    counts: dict[int, OrderCounts] = {}
    for account_id, order_status, order_type, count in result:
        entry = counts.setdefault(account_id, OrderCounts())
        name = order_status_name(order_status)
        entry.by_status[name] = entry.by_status.get(name, 0) + count
        entry.total += count
        if order_status == OrderStatus.NEW and order_type != OrderType.FBE:
            entry.waiting_for_acknowledgement += count
    return counts


async def last_run(
    session: AsyncSession, account_id: int, kind: str, statuses: Sequence[str] | None = None
) -> SyncLog | None:
    """The account's latest run of ``kind`` (with one of ``statuses`` when given)."""
    query = select(SyncLog).where(SyncLog.account_id == account_id, SyncLog.kind == kind)
    if statuses is not None:
        query = query.where(SyncLog.status.in_(statuses))
    result = await session.execute(query.order_by(SyncLog.id.desc()).limit(1))
    return result.scalar_one_or_none()


async def recent_finished_runs(
    session: AsyncSession, account_id: int, limit: int
) -> Sequence[SyncLog]:
    """The account's latest ``limit`` finished runs (both kinds), newest first."""
    result = await session.execute(
        select(SyncLog)
        .where(SyncLog.account_id == account_id, SyncLog.status.in_(FINISHED))
        .order_by(SyncLog.id.desc())
        .limit(limit)
    )
    return result.scalars().all()
