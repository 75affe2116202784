"""Every query on ``emag_sync_logs``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.db.query import KeptStatement, column_select, fetch_page, fetch_records
from magflow.sync.models import SyncLog, SyncStatus

ACTIVE = (SyncStatus.queued.value, SyncStatus.running.value)


async def get(session: AsyncSession, run_id: int) -> SyncLog | None:
    return await session.get(SyncLog, run_id)


async def active_run(session: AsyncSession, account_id: int, kind: str) -> SyncLog | None:
    result = await session.execute(
        select(SyncLog).where(
            SyncLog.account_id == account_id, SyncLog.kind == kind, SyncLog.status.in_(ACTIVE)
        )
    )
    return result.scalar_one_or_none()


#: What a progress view of a run reads (``sync.service.progress_view``, ``warning_message``).
PROGRESS_COLUMNS = (
    "id",
    "account_id",
    "kind",
    "mode",
    "status",
    "current_page",
    "total_pages",
    "processed_items",
    "total_items",
    "created_items",
    "updated_items",
    "failed_items",
    "throughput",
    "eta_seconds",
    "started_at",
    "finished_at",
    "warning",
    "missing_confirmed_at",
)


_runs = SyncLog.__table__.c
# ``status = 'queued' OR status = 'running'``, not ``IN``: an ``IN`` list is a parameter that
# SQLAlchemy expands into the SQL text again at every execution (a tenth of the progress poll's
# CPU); these two are plain parameters of a statement compiled once. Kept: on a PostgreSQL read
# session it goes to psycopg directly (``db.query.KeptStatement``).
_RUNNING = KeptStatement(
    column_select(SyncLog, PROGRESS_COLUMNS)
    .where(or_(*(_runs.status == status for status in ACTIVE)))
    .order_by(_runs.id)
)


async def running_runs(session: AsyncSession) -> Sequence[SyncLog]:
    """Queued and running runs, oldest first: the :data:`PROGRESS_COLUMNS` of each, read without
    the ORM (:func:`magflow.db.query.fetch_records`; the progress poll is on the hot path, and
    a running run's checkpoint and errors are the bulk of its row). Each row reads like a
    ``SyncLog`` for those columns and is typed as one for the progress views; none is an ORM
    object."""
    return cast("Sequence[SyncLog]", await fetch_records(session, _RUNNING))


async def stalled_runs(session: AsyncSession, heartbeat_before: datetime) -> Sequence[SyncLog]:
    """Running runs whose worker stopped beating, and queued runs nobody picked up."""
    result = await session.execute(
        select(SyncLog)
        .where(
            SyncLog.status.in_(ACTIVE),
            func.coalesce(SyncLog.heartbeat_at, SyncLog.created_at) < heartbeat_before,
        )
        .order_by(SyncLog.id)
    )
    return result.scalars().all()


async def last_completed(session: AsyncSession, account_id: int, kind: str) -> SyncLog | None:
    result = await session.execute(
        select(SyncLog)
        .where(
            SyncLog.account_id == account_id,
            SyncLog.kind == kind,
            SyncLog.status == SyncStatus.completed.value,
        )
        .order_by(SyncLog.finished_at.desc(), SyncLog.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def last_started(session: AsyncSession, account_id: int, kind: str) -> SyncLog | None:
    result = await session.execute(
        select(SyncLog)
        .where(SyncLog.account_id == account_id, SyncLog.kind == kind)
        .order_by(SyncLog.created_at.desc(), SyncLog.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def newer_completed(session: AsyncSession, run: SyncLog) -> SyncLog | None:
    """The latest completed run of the same account and kind started after ``run``, if any."""
    result = await session.execute(
        select(SyncLog)
        .where(
            SyncLog.account_id == run.account_id,
            SyncLog.kind == run.kind,
            SyncLog.status == SyncStatus.completed.value,
            SyncLog.id > run.id,
        )
        .order_by(SyncLog.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def withheld_offer_ids(session: AsyncSession, run_id: int) -> list[int]:
    """The offers run ``run_id`` withheld (a deferred column: loaded only here)."""
    result = await session.execute(select(SyncLog.withheld_offer_ids).where(SyncLog.id == run_id))
    return [int(i) for i in result.scalar_one_or_none() or []]


async def claim_confirmation(
    session: AsyncSession, run_id: int, now: datetime, confirmed_by: str | None
) -> bool:
    """Record the confirmation of ``run_id``'s withheld offers unless one was recorded: one
    conditional UPDATE, so of two confirmations at once exactly one sees rowcount 1."""
    result = await session.execute(
        update(SyncLog)
        .where(SyncLog.id == run_id, SyncLog.missing_confirmed_at.is_(None))
        .values(missing_confirmed_at=now, missing_confirmed_by=confirmed_by)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_fields(session: AsyncSession, run_id: int, **values: Any) -> None:
    await session.execute(update(SyncLog).where(SyncLog.id == run_id).values(**values))


def _run_conditions(
    account_id: int | None, kind: str | None, status: str | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if account_id is not None:
        conditions.append(SyncLog.account_id == account_id)
    if kind is not None:
        conditions.append(SyncLog.kind == kind)
    if status is not None:
        conditions.append(SyncLog.status == status)
    return conditions


async def count_runs(
    session: AsyncSession,
    *,
    account_id: int | None = None,
    kind: str | None = None,
    status: str | None = None,
) -> int:
    conditions = _run_conditions(account_id, kind, status)
    total = (await session.execute(select(func.count(SyncLog.id)).where(*conditions))).scalar_one()
    return int(total)


async def page_runs(
    session: AsyncSession,
    columns: tuple[str, ...],
    *,
    account_id: int | None = None,
    kind: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Newest first: the ``columns`` of each run, as plain dicts (see
    :func:`magflow.db.query.fetch_page`)."""

    def build() -> Select[Any]:
        conditions = _run_conditions(account_id, kind, status)
        return column_select(SyncLog, columns).where(*conditions).order_by(SyncLog.id.desc())

    key = ("sync-logs", columns, account_id, kind, status)
    return await fetch_page(session, key, build, offset=offset, limit=limit)


def add(session: AsyncSession, run: SyncLog) -> None:
    session.add(run)


async def claim(session: AsyncSession, run_id: int, worker_id: str, stale_before: datetime) -> bool:
    """Take ``run_id`` for ``worker_id`` if nobody holds it, or if its holder went quiet.

    One atomic UPDATE: of two processes racing for a stalled run exactly one sees rowcount 1.
    """
    result = await session.execute(
        update(SyncLog)
        .where(
            SyncLog.id == run_id,
            SyncLog.status.in_(ACTIVE),
            or_(
                SyncLog.worker_id.is_(None),
                SyncLog.heartbeat_at.is_(None),
                SyncLog.heartbeat_at < stale_before,
            ),
        )
        .values(worker_id=worker_id, heartbeat_at=datetime.now(UTC))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
