"""Builds the sync engine and the job runner for a process from its settings."""

from __future__ import annotations

from typing import Any

from magflow.context import AppContext
from magflow.jobs.base import JobRunner
from magflow.jobs.inprocess import InProcessRunner
from magflow.realtime.events import is_terminal
from magflow.realtime.throttle import ProgressThrottle
from magflow.settings import JobBackend
from magflow.status.metrics import record_run_finished
from magflow.sync import service
from magflow.sync.engine import EngineOptions, Publisher, SyncEngine
from magflow.sync.models import SyncLog


def bus_publisher(ctx: AppContext) -> Publisher:
    """Publishes a run's events on the process's event bus (throttled progress, milestones,
    terminal events always) and invalidates cached views when a run ends."""
    throttle = ProgressThrottle(ctx.bus)

    async def publish(event_type: str, run: SyncLog, data: dict[str, Any]) -> None:
        await throttle.publish(
            event_type,
            run_id=run.id,
            account_id=run.account_id,
            data={**service.progress_view(run), **data},
        )
        if is_terminal(event_type):
            record_run_finished(run.kind, run.status, run.processed_items)
            await ctx.cache.clear()

    return publish


def build_engine(ctx: AppContext, publish: Publisher | None = None) -> SyncEngine:
    settings = ctx.settings
    bus_publish = bus_publisher(ctx)

    async def publish_both(event_type: str, run: SyncLog, data: dict[str, Any]) -> None:
        await bus_publish(event_type, run, data)
        if publish is not None:
            await publish(event_type, run, data)

    return SyncEngine(
        ctx,
        ctx.emag_client,  # the account's eMAG client is the engine's source
        publish=publish_both,
        options=EngineOptions(
            concurrency=settings.sync_fetch_concurrency,
            # SQLite takes one writer at a time: a second would only wait on its lock.
            writers=1 if settings.is_sqlite else settings.sync_write_concurrency,
            orders_full_days=settings.sync_orders_full_days,
            heartbeat_seconds=settings.sync_heartbeat_seconds,
            round_backoff_seconds=settings.sync_round_backoff_seconds,
            missing_guard_share=settings.missing_guard_share,
        ),
    )


def build_runner(ctx: AppContext) -> JobRunner:
    if ctx.settings.jobs is JobBackend.procrastinate:
        from magflow.jobs.durable import ProcrastinateRunner

        return ProcrastinateRunner(ctx)
    return InProcessRunner(ctx, build_engine(ctx))
