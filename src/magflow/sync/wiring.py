"""Builds the sync engine and the job runner for a process from its settings."""

from __future__ import annotations

from magflow.context import AppContext
from magflow.jobs.base import JobRunner
from magflow.jobs.inprocess import InProcessRunner
from magflow.sync.engine import EngineOptions, Publisher, SyncEngine, _no_publish
from magflow.sync.source import client_source_factory


def build_engine(ctx: AppContext, publish: Publisher = _no_publish) -> SyncEngine:
    settings = ctx.settings
    return SyncEngine(
        ctx,
        client_source_factory(ctx),
        publish=publish,
        options=EngineOptions(
            concurrency=settings.sync_fetch_concurrency,
            orders_full_days=settings.sync_orders_full_days,
            heartbeat_seconds=settings.sync_heartbeat_seconds,
            round_backoff_seconds=settings.sync_round_backoff_seconds,
        ),
    )


def build_runner(ctx: AppContext) -> JobRunner:
    return InProcessRunner(ctx, build_engine(ctx))
