"""Sync runs: creating them (one active per account and kind), cancelling, listing.

Never commits, except :func:`request_run`, whose insert must be its own transaction: the
database's partial unique index decides between two simultaneous triggers (see models).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.context import AppContext
from magflow.db.limits import StoredValueError
from magflow.sync import repository
from magflow.sync.models import SyncKind, SyncLog, SyncMode, SyncStatus

log = logging.getLogger(__name__)


def crash_error(exc: BaseException, run_id: int) -> dict[str, Any]:
    """The error entry a run records when it crashed on something other than eMAG's answer.

    What users see must not be the exception's text: a database error quotes the SQL statement
    and its parameters (other customers' data included). So the entry carries a short message
    and a reference id, and the detail (traceback included) goes to the server log under that
    reference. Data that no column may store (:class:`StoredValueError`) is the exception: its
    message is written for users and says which row and value."""
    at = datetime.now(UTC).isoformat()
    if isinstance(exc, StoredValueError):
        log.warning("sync run %s refused a page: %s", run_id, exc)
        return {"at": at, "kind": "data", "message": str(exc), "messages": [str(exc)]}
    reference = uuid.uuid4().hex[:12]
    log.error("sync run %s crashed (reference %s)", run_id, reference, exc_info=exc)
    message = f"internal error (reference {reference}); the details are in the server log"
    return {
        "at": at,
        "kind": "internal",
        "reference": reference,
        "message": message,
        "messages": [message],
    }


class RunAlreadyActiveError(Exception):
    def __init__(self, run: SyncLog) -> None:
        super().__init__(
            f"a {run.kind} sync for account {run.account_id} is already {run.status} (run {run.id})"
        )
        self.run = run


class RunNotFoundError(LookupError):
    pass


async def request_run(
    session: AsyncSession,
    *,
    account_id: int,
    kind: SyncKind,
    mode: SyncMode,
    trigger: str,
    requested_by: str | None,
    params: dict[str, Any] | None = None,
) -> SyncLog:
    """Queue a run and commit it, or raise :class:`RunAlreadyActiveError` with the active one."""
    existing = await repository.active_run(session, account_id, kind.value)
    if existing is not None:
        raise RunAlreadyActiveError(existing)
    run = SyncLog(
        account_id=account_id,
        kind=kind.value,
        mode=mode.value,
        status=SyncStatus.queued.value,
        trigger=trigger,
        requested_by=requested_by,
        params=params or {},
        errors=[],
    )
    repository.add(session, run)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await repository.active_run(session, account_id, kind.value)
        if existing is None:
            raise
        raise RunAlreadyActiveError(existing) from None
    return run


async def request_cancel(session: AsyncSession, run_id: int) -> SyncLog:
    run = await repository.get(session, run_id)
    if run is None:
        raise RunNotFoundError(f"no sync run {run_id}")
    if SyncStatus(run.status).is_active:
        run.cancel_requested = True
    return run


async def running(session: AsyncSession) -> Sequence[SyncLog]:
    return await repository.running_runs(session)


def progress_view(run: SyncLog) -> dict[str, Any]:
    """The progress fields every screen shows (REST, WebSocket, CLI)."""
    percentage = None
    if run.total_items:
        percentage = round(min(100.0, 100.0 * run.processed_items / run.total_items), 1)
    elif run.status == SyncStatus.completed.value:
        percentage = 100.0
    return {
        "run_id": run.id,
        "account_id": run.account_id,
        "kind": run.kind,
        "mode": run.mode,
        "status": run.status,
        "current_page": run.current_page,
        "total_pages": run.total_pages,
        "processed_items": run.processed_items,
        "total_items": run.total_items,
        "created_items": run.created_items,
        "updated_items": run.updated_items,
        "failed_items": run.failed_items,
        "percentage": percentage,
        "throughput_per_second": run.throughput,
        "eta_seconds": run.eta_seconds,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


async def running_snapshot(ctx: AppContext) -> list[dict[str, Any]]:
    """Progress of every queued or running run: what a WebSocket client sees on connect."""
    async with ctx.db.session() as session:
        return [progress_view(run) for run in await repository.running_runs(session)]
