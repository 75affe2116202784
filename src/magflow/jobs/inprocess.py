"""The default job runner: asyncio tasks in the API process.

It executes queued sync runs, recovers stalled ones (a run whose heartbeat stopped because its
process died is claimed and resumed from its checkpoint), and fires schedules. Claims are atomic
updates in the database, so several processes running this runner never execute one run twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from magflow.accounts import service as accounts_service
from magflow.context import AppContext
from magflow.jobs.schedule import Schedule
from magflow.sync import repository as sync_repository
from magflow.sync import service as sync_service
from magflow.sync.engine import WORKER_ID, SyncEngine
from magflow.sync.models import SyncKind, SyncMode

log = logging.getLogger(__name__)

TICK_SECONDS = 5.0


class InProcessRunner:
    def __init__(self, ctx: AppContext, engine: SyncEngine) -> None:
        self.ctx = ctx
        self.engine = engine
        self._tasks: dict[int, asyncio.Task[str]] = {}
        self._slots = asyncio.Semaphore(ctx.settings.sync_max_concurrent_runs)
        self._loop_task: asyncio.Task[None] | None = None
        settings = ctx.settings
        self.schedules = {
            SyncKind.orders: Schedule.parse(settings.schedule_orders),
            SyncKind.offers: Schedule.parse(settings.schedule_offers),
        }

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="magflow-jobs")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def enqueue(self, run_id: int) -> None:
        if run_id in self._tasks:
            return
        self._tasks[run_id] = asyncio.create_task(self._execute(run_id), name=f"sync-run-{run_id}")

    async def wait(self, run_id: int) -> str | None:
        task = self._tasks.get(run_id)
        return await task if task is not None else None

    async def _execute(self, run_id: int) -> str:
        try:
            async with self._slots:
                stale_before = datetime.now(UTC) - timedelta(
                    seconds=self.ctx.settings.sync_stale_seconds
                )
                async with self.ctx.db.session() as session:
                    claimed = await sync_repository.claim(session, run_id, WORKER_ID, stale_before)
                    await session.commit()
                if not claimed:
                    return "claimed-elsewhere"
                return await self.engine.execute(run_id)
        finally:
            self._tasks.pop(run_id, None)

    async def _loop(self) -> None:
        while True:
            try:
                await self.recover_stalled()
                if self.ctx.settings.schedules_enabled:
                    await self.fire_schedules()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job loop tick failed")
            await asyncio.sleep(TICK_SECONDS)

    async def recover_stalled(self) -> None:
        stale_before = datetime.now(UTC) - timedelta(seconds=self.ctx.settings.sync_stale_seconds)
        async with self.ctx.db.session() as session:
            stalled = await sync_repository.stalled_runs(session, stale_before)
            ids = [run.id for run in stalled if run.id not in self._tasks]
        for run_id in ids:
            log.info("resuming stalled sync run %s", run_id)
            await self.enqueue(run_id)

    async def fire_schedules(self) -> None:
        now = datetime.now(UTC)
        jitter = self.ctx.settings.schedule_jitter_seconds
        async with self.ctx.db.session() as session:
            accounts = await accounts_service.list_accounts(session, active_only=True)
            due: list[tuple[int, SyncKind]] = []
            for account in accounts:
                for kind, schedule in self.schedules.items():
                    last = await sync_repository.last_started(session, account.id, kind.value)
                    if last is None:
                        continue  # the first sync of an account is started by a person
                    seed = f"{account.id}:{kind.value}:{last.id}"
                    if now >= schedule.next_after(
                        last.created_at, jitter_seconds=jitter, seed=seed
                    ):
                        due.append((account.id, kind))
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
            await self.enqueue(run.id)
