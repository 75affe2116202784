"""Sync runs: creating them (one active per account and kind), cancelling, listing.

Never commits, except :func:`request_run`, whose insert must be its own transaction: the
database's partial unique index decides between two simultaneous triggers (see models).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.audit.service import Actor, Auditor, Outcome
from magflow.catalog import repository as catalog_repository
from magflow.common.dates import in_zone, platform_zone
from magflow.common.errors import NotFoundError
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


def _article(word: str) -> str:
    """ "an" before a vowel sound ("an orders sync", "an offers sync"), else "a"."""
    return "an" if word[:1].lower() in {"a", "e", "i", "o", "u"} else "a"


class RunAlreadyActiveError(Exception):
    def __init__(self, run: SyncLog) -> None:
        super().__init__(
            f"{_article(run.kind)} {run.kind} sync for account {run.account_id} is already "
            f"{run.status} (run {run.id})"
        )
        self.run = run


class RunNotFoundError(NotFoundError):
    pass


class InvalidSyncRequestError(ValueError):
    """A sync request whose options contradict each other (the message says why)."""


def sync_mode(kind: SyncKind, mode: SyncMode | None, since: datetime | None) -> SyncMode:
    """The mode a request asks for, or :class:`InvalidSyncRequestError` when it cannot be done.

    Offers are always read whole (eMAG has no "modified since" filter for offers), so
    ``incremental`` and ``since`` are refused for them rather than ignored. For orders ``since``
    is where a full read starts; an incremental read starts at the last completed run instead,
    so ``since`` with ``incremental`` is refused, and ``since`` alone means ``full``.
    """
    if kind is SyncKind.offers:
        if mode is SyncMode.incremental:
            raise InvalidSyncRequestError(
                "offers are always read whole: mode 'incremental' applies to orders only"
            )
        if since is not None:
            raise InvalidSyncRequestError(
                "'since' applies to orders only: offers are always read whole"
            )
        return SyncMode.full
    if since is not None:
        if mode is SyncMode.incremental:
            raise InvalidSyncRequestError(
                "'since' sets where a full order sync starts; an incremental one reads the "
                "changes since the last completed run: use mode 'full' or leave mode out"
            )
        return SyncMode.full
    return mode or SyncMode.incremental


def since_params(since: datetime | None, platform: str, now: datetime) -> dict[str, Any]:
    """A run's ``params`` for ``since``, resolved for one account's platform.

    A plain date or a time without a zone is the platform's wall time, so a request covering
    accounts on several platforms gives each run its own instant; the run stores it with its
    offset and the engine never sees a naive value.
    """
    if since is None:
        return {}
    resolved = in_zone(since, platform_zone(platform))
    if resolved > now:
        raise InvalidSyncRequestError(
            f"'since' ({resolved.isoformat()} in the account's time zone) is in the future"
        )
    return {"since": resolved.isoformat()}


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


class ConfirmRefusedError(Exception):
    """A confirmation of withheld missing offers that cannot apply (the message says why)."""


@dataclass(frozen=True)
class MissingConfirmation:
    run: SyncLog
    marked: int
    already_confirmed: bool


async def confirm_missing(
    session: AsyncSession, run_id: int, *, confirmed_by: str | None, now: datetime
) -> MissingConfirmation:
    """Mark missing the offers that offers run ``run_id`` withheld (see
    ``sync.engine.judge_missing``), once.

    Only the run's own withheld offers are marked, and of them only those no later run has read
    (``catalog.repository.mark_missing``). A second confirmation changes nothing
    (``already_confirmed``); of two at once, the database's conditional update lets exactly one
    through. Refused (:class:`ConfirmRefusedError`) when the run withheld nothing, or when a newer
    offers run of the account completed: the catalog has been read again since, so the old list
    no longer describes eMAG (that run marked, or withheld, what it found itself).
    """
    run = await repository.get(session, run_id)
    if run is None:
        raise RunNotFoundError(f"no sync run {run_id}")
    warning = run.warning or {}
    if run.kind != SyncKind.offers.value or warning.get("code") != "missing_withheld":
        raise ConfirmRefusedError(f"run {run_id} withheld no missing offers: nothing to confirm")
    if run.missing_confirmed_at is not None:
        return MissingConfirmation(run, 0, True)
    newer = await repository.newer_completed(session, run)
    if newer is not None:
        raise ConfirmRefusedError(
            f"offers run {newer.id} of the same account completed after run {run_id}: the "
            "catalog has been read again since, so run "
            f"{run_id}'s withheld offers are no longer current (see run {newer.id})"
        )
    if not await repository.claim_confirmation(session, run_id, now, confirmed_by):
        await session.refresh(run)
        return MissingConfirmation(run, 0, True)
    assert run.account_id is not None  # an offers run with a warning has its account
    withheld = await repository.withheld_offer_ids(session, run_id)
    marked = await catalog_repository.mark_missing(session, run.account_id, withheld, run.id, now)
    await session.refresh(run)
    return MissingConfirmation(run, marked, False)


async def after_missing_confirmed(ctx: AppContext, actor: Actor, done: MissingConfirmation) -> None:
    """What follows a confirmation once it is committed: the audit row (nothing is sent to eMAG,
    only MagFlow's catalog changes) and the cache, whose listings now hold stale offers. Nothing
    for a confirmation that was already made."""
    if done.already_confirmed:
        return
    await Auditor(ctx.db, actor, account_id=done.run.account_id).record(
        action="sync.confirm_missing",
        emag_route="-",
        target=f"run {done.run.id}",
        request={"run_id": done.run.id, "warning": done.run.warning},
        outcome=Outcome(
            status_code=None,
            success=True,
            messages=[f"{done.marked} offers marked missing"],
            response={"marked": done.marked},
        ),
    )
    await ctx.cache.clear()


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
        "warning": warning_message(run),
    }


def warning_message(run: SyncLog) -> str | None:
    """The run's warning as one line, while it still asks for an operator (None once the
    withheld offers were confirmed, or when there is none)."""
    if not run.warning or run.missing_confirmed_at is not None:
        return None
    message = run.warning.get("message")
    return str(message) if message else None


async def running_snapshot(ctx: AppContext) -> list[dict[str, Any]]:
    """Progress of every queued or running run: what a WebSocket client sees on connect."""
    async with ctx.db.session() as session:
        return [progress_view(run) for run in await repository.running_runs(session)]
