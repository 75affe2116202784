"""The alerts timer of a job runner: evaluate the rules on ``MAGFLOW_ALERTS_SCHEDULE`` (every
minute by default) and send due deliveries every few seconds.

It runs wherever the job system's maintenance runs: in the API process with the in-process
runner, in ``magflow worker`` processes with procrastinate (never in API processes then). Several
processes may run it at once: alerts are deduplicated by their unique key and deliveries leased
(:mod:`magflow.alerts.delivery`). It is a task of its own, so a slow SMTP server or webhook
delays only alerts, never a sync run, a bulk operation or a request; a failing tick is logged and
the next one tries again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from magflow.alerts import service
from magflow.alerts.delivery import deliver_due
from magflow.context import AppContext
from magflow.jobs.schedule import Schedule

log = logging.getLogger(__name__)

TICK_SECONDS = 5.0


async def evaluate(ctx: AppContext, now: datetime | None = None) -> list[int]:
    """Raise the alerts due at ``now`` in one transaction; the ids of the new ones."""
    async with ctx.db.session() as session:
        raised = await service.evaluate(
            session, now or datetime.now(UTC), email_enabled=bool(ctx.settings.smtp_host)
        )
        await session.commit()
    return raised


class AlertWorker:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.schedule = Schedule.parse(ctx.settings.alerts_schedule)
        # Deliveries are looked at every TICK_SECONDS, or as often as a shorter schedule fires.
        interval = self.schedule.interval
        self.tick_seconds = min(
            TICK_SECONDS, interval.total_seconds() if interval else TICK_SECONDS
        )
        self.last_evaluation: datetime | None = None

    async def tick(self) -> None:
        now = datetime.now(UTC)
        if self.last_evaluation is None or now >= self.schedule.next_after(
            self.last_evaluation, jitter_seconds=0, seed="alerts"
        ):
            self.last_evaluation = now
            await evaluate(self.ctx, now)
        await deliver_due(self.ctx)

    async def loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alerts tick failed")
            await asyncio.sleep(self.tick_seconds)


def start(ctx: AppContext) -> asyncio.Task[None] | None:
    """Start the alerts timer in this process, unless alerts or schedules are turned off."""
    settings = ctx.settings
    if not (settings.alerts_enabled and settings.schedules_enabled):
        return None
    return asyncio.create_task(AlertWorker(ctx).loop(), name="magflow-alerts")
