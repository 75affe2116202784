"""Durable jobs on PostgreSQL with procrastinate (``MAGFLOW_JOBS=procrastinate``).

API processes only *defer* a job per sync run or bulk operation; ``magflow worker`` processes (on
any machine) execute them and run the maintenance timer (stalled runs and operations, schedules).
Per run or operation, procrastinate's ``queueing_lock`` keeps at most one waiting job; the
database claim (:func:`~magflow.jobs.maintenance.claim_and_execute` for runs,
:meth:`magflow.bulk.runner.BulkRunner.execute` for operations) makes sure one worker at a time
executes it.
No procrastinate ``lock``: the job of a worker killed mid-run stays "doing" in procrastinate's
table and its lock would block the resumed job forever; the claim, which expires with the run's
heartbeat, is the lock that matters. A job that crashes is retried with exponential backoff;
the run resumes from its checkpoint each time, an operation from its items' statuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import procrastinate
from sqlalchemy.engine import make_url

from magflow.alerts import worker as alerts_worker
from magflow.bulk.events import bus_publisher
from magflow.bulk.runner import BulkRunner
from magflow.context import AppContext
from magflow.intake.work import IntakeWorker
from magflow.jobs.maintenance import Maintenance, claim_and_execute
from magflow.sync.engine import SyncEngine

log = logging.getLogger(__name__)

QUEUE = "magflow-sync"
TASK_NAME = "magflow.sync_run"
BULK_TASK_NAME = "magflow.bulk_operation"
INTAKE_TASK_NAME = "magflow.intake"
# Serialises schema creation between processes starting together.
SCHEMA_LOCK_ID = 0x6D61676677


def conninfo(async_url: str) -> str:
    """libpq connection string from the SQLAlchemy URL."""
    url = make_url(async_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("MAGFLOW_JOBS=procrastinate needs a PostgreSQL MAGFLOW_DATABASE_URL")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(
    ctx: AppContext, engine: SyncEngine | None, bulk: BulkRunner | None = None
) -> procrastinate.App:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=conninfo(ctx.settings.async_database_url),
            kwargs={"application_name": "magflow-jobs"},
        )
    )

    @app.task(
        name=TASK_NAME,
        queue=QUEUE,
        retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=5),
    )
    async def sync_run(run_id: int) -> None:
        if engine is None:
            raise RuntimeError("this process defers sync jobs but does not execute them")
        status = await claim_and_execute(ctx, run_id, engine.execute)
        log.info("sync run %s: %s", run_id, status)

    @app.task(
        name=BULK_TASK_NAME,
        queue=QUEUE,
        retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=5),
    )
    async def bulk_operation(operation_id: int) -> None:
        if bulk is None:
            raise RuntimeError("this process defers bulk jobs but does not execute them")
        status = await bulk.execute(operation_id)
        log.info("bulk operation %s: %s", operation_id, status)

    # -- intake (magflow.intake): an account's callbacks and catch-up poll. The job's database
    # claims keep two workers off one order; a failed order is retried by the intake itself.
    @app.task(name=INTAKE_TASK_NAME, queue=QUEUE)
    async def intake(account_id: int, poll: bool) -> None:
        if engine is None:
            raise RuntimeError("this process defers intake jobs but does not execute them")
        await IntakeWorker(ctx).execute(account_id, poll=poll)

    return app


async def ensure_schema(app: procrastinate.App) -> None:
    """Create procrastinate's tables once (an advisory lock keeps concurrent starts apart).

    The lock is the transaction's own (``pg_advisory_xact_lock``): it is released when the schema
    is committed, not before, so a process that waited for it sees the tables. (A session lock
    released before the commit let a second process starting at the same moment find no tables
    and fail creating them again.)"""
    connector = app.connector
    async with connector.pool.connection() as conn, conn.transaction():  # type: ignore[attr-defined]
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
        cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs')")
        row = await cursor.fetchone()
        if row is None or row[0] is None:
            await conn.execute(app.schema_manager.get_schema())
            log.info("created procrastinate's schema")


async def defer(app: procrastinate.App, run_id: int) -> None:
    task = app.tasks[TASK_NAME].configure(queueing_lock=f"sync-run-{run_id}")
    with contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):
        await task.defer_async(run_id=run_id)  # else a job for this run is already waiting


async def defer_bulk(app: procrastinate.App, operation_id: int) -> None:
    task = app.tasks[BULK_TASK_NAME].configure(queueing_lock=f"bulk-operation-{operation_id}")
    with contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):
        await task.defer_async(operation_id=operation_id)


async def defer_intake(app: procrastinate.App, account_id: int, poll: bool) -> None:
    lock = f"intake-{account_id}-{'poll' if poll else 'orders'}"
    task = app.tasks[INTAKE_TASK_NAME].configure(queueing_lock=lock)
    with contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):
        await task.defer_async(account_id=account_id, poll=poll)


class ProcrastinateRunner:
    """The API side: defers jobs; execution and maintenance happen in ``magflow worker``."""

    def __init__(self, ctx: AppContext) -> None:
        self.app = build_app(ctx, engine=None)

    async def start(self) -> None:
        await self.app.open_async()
        await ensure_schema(self.app)

    async def stop(self) -> None:
        await self.app.close_async()

    async def enqueue(self, run_id: int) -> None:
        await defer(self.app, run_id)

    async def enqueue_bulk(self, operation_id: int) -> None:
        await defer_bulk(self.app, operation_id)

    async def enqueue_intake(self, account_id: int, poll: bool = False) -> None:
        await defer_intake(self.app, account_id, poll)


async def run_worker(ctx: AppContext, engine: SyncEngine, **options: Any) -> None:
    """A worker: executes sync and bulk jobs and runs the maintenance and alerts timers until
    cancelled."""
    app = build_app(ctx, engine, BulkRunner(ctx, bus_publisher(ctx)))
    async with app.open_async():
        await ensure_schema(app)
        maintenance = Maintenance(
            ctx,
            lambda run_id: defer(app, run_id),
            lambda operation_id: defer_bulk(app, operation_id),
            dispatch_intake=lambda account_id, poll: defer_intake(app, account_id, poll),
        )
        loop = asyncio.create_task(maintenance.loop(), name="magflow-maintenance")
        alerts = alerts_worker.start(ctx)  # workers, not API processes, evaluate and deliver
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=ctx.settings.sync_max_concurrent_runs,
                install_signal_handlers=False,
                **options,
            )
        finally:
            timers = [t for t in (loop, alerts) if t is not None]
            for timer in timers:
                timer.cancel()
            await asyncio.gather(*timers, return_exceptions=True)
