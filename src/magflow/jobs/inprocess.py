"""The default job runner: asyncio tasks in the API process.

It executes queued sync runs and bulk operations, and on a timer resumes stalled ones (a run or an
operation whose heartbeat stopped because its process died is claimed and resumed from what the
database recorded) and fires schedules (:mod:`magflow.jobs.maintenance`); alongside, the alerts
timer (:mod:`magflow.alerts.worker`). ``stop`` cancels every
task: a cancelled bulk operation gives its claim back and resumes on the next start.
"""

from __future__ import annotations

import asyncio
import logging

from magflow.alerts import worker as alerts_worker
from magflow.bulk.events import bus_publisher
from magflow.bulk.runner import BulkRunner
from magflow.context import AppContext
from magflow.intake.work import IntakeWorker
from magflow.jobs.maintenance import Maintenance, claim_and_execute
from magflow.sync.engine import SyncEngine

log = logging.getLogger(__name__)


class InProcessRunner:
    def __init__(self, ctx: AppContext, engine: SyncEngine, bulk: BulkRunner | None = None) -> None:
        self.ctx = ctx
        self.engine = engine
        self.bulk = bulk or BulkRunner(ctx, bus_publisher(ctx))
        self.maintenance = Maintenance(
            ctx, self.enqueue, self.enqueue_bulk, dispatch_intake=self.enqueue_intake
        )
        self._tasks: dict[int, asyncio.Task[str]] = {}
        self._bulk_tasks: dict[int, asyncio.Task[str]] = {}
        self._slots = asyncio.Semaphore(ctx.settings.sync_max_concurrent_runs)
        self._loop_task: asyncio.Task[None] | None = None
        self._alerts_task: asyncio.Task[None] | None = None
        # Intake: one task per account; a request while it runs makes it run once more.
        self.intake = IntakeWorker(ctx)
        self._intake_tasks: dict[int, asyncio.Task[None]] = {}
        self._intake_again: dict[int, bool] = {}

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self.maintenance.loop(), name="magflow-jobs")
        # Alerts: a task of their own, so that nothing about them can hold up the timer above.
        self._alerts_task = alerts_worker.start(self.ctx)

    async def stop(self) -> None:
        tasks = [
            t
            for t in (
                self._loop_task,
                self._alerts_task,
                *self._tasks.values(),
                *self._bulk_tasks.values(),
                *self._intake_tasks.values(),
            )
            if t is not None
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def enqueue(self, run_id: int) -> None:
        if run_id not in self._tasks:
            self._tasks[run_id] = asyncio.create_task(
                self._execute(run_id), name=f"sync-run-{run_id}"
            )

    async def enqueue_bulk(self, operation_id: int) -> None:
        if operation_id not in self._bulk_tasks:
            self._bulk_tasks[operation_id] = asyncio.create_task(
                self._execute_bulk(operation_id), name=f"bulk-{operation_id}"
            )

    async def wait(self, run_id: int) -> str | None:
        task = self._tasks.get(run_id)
        return await task if task is not None else None

    async def wait_bulk(self, operation_id: int) -> str | None:
        task = self._bulk_tasks.get(operation_id)
        return await task if task is not None else None

    async def recover_stalled(self) -> list[int]:
        return await self.maintenance.recover_stalled(skip=set(self._tasks))

    async def recover_stalled_bulk(self) -> list[int]:
        return await self.maintenance.recover_stalled_bulk(skip=set(self._bulk_tasks))

    async def _execute(self, run_id: int) -> str:
        try:
            async with self._slots:
                return await claim_and_execute(self.ctx, run_id, self.engine.execute)
        finally:
            self._tasks.pop(run_id, None)

    async def _execute_bulk(self, operation_id: int) -> str:
        try:
            return await self.bulk.execute(operation_id)
        finally:
            self._bulk_tasks.pop(operation_id, None)

    # -- intake (magflow.intake) -------------------------------------------------------------------

    async def enqueue_intake(self, account_id: int, poll: bool = False) -> None:
        if account_id in self._intake_tasks:
            self._intake_again[account_id] = self._intake_again.get(account_id, False) or poll
            return
        self._intake_tasks[account_id] = asyncio.create_task(
            self._execute_intake(account_id, poll), name=f"intake-{account_id}"
        )

    async def _execute_intake(self, account_id: int, poll: bool) -> None:
        try:
            while True:
                self._intake_again.pop(account_id, None)
                try:
                    await self.intake.execute(account_id, poll=poll)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("intake job of account %s failed", account_id)
                if account_id not in self._intake_again:
                    return
                poll = self._intake_again[account_id]
        finally:
            self._intake_tasks.pop(account_id, None)
            self._intake_again.pop(account_id, None)
