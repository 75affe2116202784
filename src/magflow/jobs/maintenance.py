"""What every job backend does on a timer: resume stalled sync runs and bulk operations, and
fire schedules.

Every step only *dispatches* ids (execute here, or defer to procrastinate); the database keeps
them safe when several processes do this at once: a schedule fires at most one active run per
(account, kind) (the unique index on emag_sync_logs), and a run or a bulk operation is executed by
whoever claims it (``sync.repository.claim``, ``bulk.repository.claim``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.bulk import repository as bulk_repository
from magflow.context import AppContext
from magflow.jobs.schedule import Schedule, ip_refusal_pause_until
from magflow.sync import repository as sync_repository
from magflow.sync import service as sync_service
from magflow.sync.models import SyncKind, SyncMode

log = logging.getLogger(__name__)

TICK_SECONDS = 5.0
PRUNE_EVERY = timedelta(hours=1)
Dispatch = Callable[[int], Awaitable[None]]
DispatchIntake = Callable[[int, bool], Awaitable[None]]


class Maintenance:
    def __init__(
        self,
        ctx: AppContext,
        dispatch: Dispatch,
        dispatch_bulk: Dispatch | None = None,
        *,
        dispatch_intake: DispatchIntake | None = None,
    ) -> None:
        self.ctx = ctx
        self.dispatch = dispatch
        self.dispatch_bulk = dispatch_bulk
        self.dispatch_intake = dispatch_intake
        settings = ctx.settings
        self.schedules = {
            SyncKind.orders: Schedule.parse(settings.schedule_orders),
            SyncKind.offers: Schedule.parse(settings.schedule_offers),
        }
        self._pruned_at: datetime | None = None

    async def loop(self) -> None:
        while True:
            try:
                await self.recover_stalled()
                if self.dispatch_bulk is not None:
                    await self.recover_stalled_bulk()
                if self.ctx.settings.schedules_enabled:
                    await self.fire_schedules()
                if self.dispatch_intake is not None:
                    await self.intake_tick()
                await self.invoicing()
                await self.prune_history()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job maintenance tick failed")
            await asyncio.sleep(TICK_SECONDS)

    async def invoicing(self) -> list[int]:
        """Issue and attach the invoices (and credit notes) the accounts' triggers call for, and
        resume those a stopped worker left mid-way (:meth:`InvoicingService.tick`)."""
        from magflow.invoicing.service import InvoicingService

        return await InvoicingService(self.ctx).tick()

    async def prune_history(self) -> int:
        """At most once an hour: delete offer history older than
        ``MAGFLOW_PRICING_HISTORY_DAYS`` (:func:`magflow.pricing.history.prune`)."""
        from magflow.pricing.history import prune

        now = datetime.now(UTC)
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        async with self.ctx.db.session() as session:
            deleted = await prune(session, now, self.ctx.settings.pricing_history_days)
            await session.commit()
        return deleted

    async def recover_stalled(self, skip: set[int] | None = None) -> list[int]:
        """Dispatch runs whose heartbeat stopped (their process died) or that nobody picked up."""
        stale_before = datetime.now(UTC) - timedelta(seconds=self.ctx.settings.sync_stale_seconds)
        async with self.ctx.db.session() as session:
            stalled = await sync_repository.stalled_runs(session, stale_before)
            ids = [run.id for run in stalled if run.id not in (skip or set())]
        for run_id in ids:
            log.info("resuming stalled sync run %s", run_id)
            await self.dispatch(run_id)
        return ids

    async def recover_stalled_bulk(self, skip: set[int] | None = None) -> list[int]:
        """Dispatch bulk operations nobody executes: their process died (stale heartbeat), shut
        down (claim released), or never picked them up."""
        if self.dispatch_bulk is None:
            return []
        stale_before = datetime.now(UTC) - timedelta(seconds=self.ctx.settings.sync_stale_seconds)
        async with self.ctx.db.session() as session:
            found = await bulk_repository.stalled_operations(session, stale_before)
        ids = [op_id for op_id in found if op_id not in (skip or set())]
        for operation_id in ids:
            log.info("resuming bulk operation %s", operation_id)
            await self.dispatch_bulk(operation_id)
        return ids

    async def fire_schedules(self) -> list[int]:
        now = datetime.now(UTC)
        jitter = self.ctx.settings.schedule_jitter_seconds
        due: list[tuple[int, SyncKind]] = []
        async with self.ctx.db.session() as session:
            for account in await accounts_service.list_accounts(session, active_only=True):
                if await self._paused_by_ip_refusal(session, account.id, now):
                    continue
                for kind, schedule in self.schedules.items():
                    last = await sync_repository.last_started(session, account.id, kind.value)
                    if last is None:
                        continue  # an account's first sync is started by a person
                    seed = f"{account.id}:{kind.value}:{last.id}"
                    if now >= schedule.next_after(
                        last.created_at, jitter_seconds=jitter, seed=seed
                    ):
                        due.append((account.id, kind))
        fired = []
        for account_id, kind in due:
            mode = SyncMode.incremental if kind is SyncKind.orders else SyncMode.full
            async with self.ctx.db.session() as session:
                try:
                    run = await sync_service.request_run(
                        session,
                        account_id=account_id,
                        kind=kind,
                        mode=mode,
                        trigger="schedule",
                        requested_by=None,
                    )
                except sync_service.RunAlreadyActiveError:
                    continue
            await self.dispatch(run.id)
            fired.append(run.id)
        return fired

    async def _paused_by_ip_refusal(
        self, session: AsyncSession, account_id: int, now: datetime
    ) -> bool:
        """Whether the account's latest run (either kind) was refused by eMAG for this server's
        IP less than ``IP_REFUSAL_PAUSE`` ago (:func:`ip_refusal_paused_until`)."""
        until = await ip_refusal_paused_until(session, account_id, now)
        if until is not None:
            log.info(
                "schedules of account %s paused until %s: eMAG refused the IP", account_id, until
            )
            return True
        return False

    # -- intake (magflow.intake) -------------------------------------------------------------------

    async def intake_tick(self) -> None:
        """Dispatch the catch-up polls that are due (``MAGFLOW_INTAKE_POLL_SECONDS``, one process
        fires each) and the accounts whose pending orders nobody works on (retries that came
        due, work of a process that died)."""
        if self.dispatch_intake is None:
            return
        from magflow.intake import work

        polls = (
            set(await work.accounts_to_poll(self.ctx))
            if self.ctx.settings.schedules_enabled
            else set()
        )
        for account_id in polls:
            await self.dispatch_intake(account_id, True)
        for account_id in await work.due_accounts(self.ctx):
            if account_id not in polls:
                await self.dispatch_intake(account_id, False)


async def ip_refusal_paused_until(
    session: AsyncSession, account_id: int, now: datetime
) -> datetime | None:
    """Until when the account's calls to eMAG wait because its latest sync run (either kind) was
    refused for this server's IP (``jobs.schedule.ip_refusal_pause_until``), or None. The
    schedules use it, and so does the intake job (``magflow.intake.work``), so that a refused IP
    costs eMAG one call per pause, not one per poll or callback."""
    runs = [
        run
        for kind in SyncKind
        if (run := await sync_repository.last_started(session, account_id, kind.value))
    ]
    if not runs:
        return None
    latest = max(runs, key=lambda run: (run.created_at, run.id))
    until = ip_refusal_pause_until(latest.status, latest.errors, latest.finished_at)
    return until if until is not None and now < until else None


async def got_through_since(session: AsyncSession, account_id: int, since: datetime) -> bool:
    """Whether a sync run of the account (either kind, the latest of each) started at or after
    ``since`` and reached eMAG (completed or partial): the seller has whitelisted the IP, and what
    an IP refusal held back may go again (the intake, ``magflow.intake.work``), as the schedules
    do once a run gets through."""
    for kind in SyncKind:
        run = await sync_repository.last_started(session, account_id, kind.value)
        if run is None or run.status not in ("completed", "partial"):
            continue
        created = run.created_at if run.created_at.tzinfo else run.created_at.replace(tzinfo=UTC)
        if created >= since:
            return True
    return False


async def claim_and_execute(
    ctx: AppContext, run_id: int, execute: Callable[[int], Awaitable[str]]
) -> str:
    """Claim ``run_id`` for this process (see ``sync.repository.claim``) and execute it."""
    from magflow.sync.engine import WORKER_ID

    stale_before = datetime.now(UTC) - timedelta(seconds=ctx.settings.sync_stale_seconds)
    async with ctx.db.session() as session:
        claimed = await sync_repository.claim(session, run_id, WORKER_ID, stale_before)
        await session.commit()
    if not claimed:
        return "claimed-elsewhere"
    status = await execute(run_id)
    await after_run(ctx, run_id, status)
    return status


async def after_run(ctx: AppContext, run_id: int, status: str) -> None:
    """What follows a finished sync run: the repricing rules after an offers run, the profit
    report's order lines after an orders run (:mod:`magflow.pricing.repricer`; never raises)."""
    from magflow.pricing.repricer import after_offer_sync, after_orders_sync

    await after_offer_sync(ctx, run_id, status)
    await after_orders_sync(ctx, run_id, status)
