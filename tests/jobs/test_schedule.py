from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from magflow.context import AppContext
from magflow.jobs.maintenance import Maintenance
from magflow.jobs.schedule import Schedule
from magflow.sync.models import SyncLog
from tests.factories import make_account

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "seconds"), [("300", 300), ("90s", 90), ("5m", 300), ("1h", 3600), ("2d", 172800)]
)
def test_intervals(spec: str, seconds: int) -> None:
    schedule = Schedule.parse(spec)
    assert schedule.next_after(T0, jitter_seconds=0, seed="x") == T0 + timedelta(seconds=seconds)


def test_cron_and_jitter() -> None:
    schedule = Schedule.parse("*/15 * * * *")
    assert schedule.next_after(
        T0 + timedelta(minutes=1), jitter_seconds=0, seed="x"
    ) == T0 + timedelta(minutes=15)
    jittered = [schedule.next_after(T0, jitter_seconds=60, seed=f"account-{i}") for i in range(20)]
    base = T0 + timedelta(minutes=15)
    assert all(base <= due < base + timedelta(seconds=60) for due in jittered)
    assert len(set(jittered)) > 1  # accounts are spread apart
    assert schedule.next_after(T0, jitter_seconds=60, seed="same") == schedule.next_after(
        T0, jitter_seconds=60, seed="same"
    )


@pytest.mark.parametrize("spec", ["", "0m", "every day", "61 * * * *"])
def test_bad_schedules_are_refused_with_a_hint(spec: str) -> None:
    with pytest.raises(ValueError, match="schedule"):
        Schedule.parse(spec)


async def test_maintenance_fires_due_schedules_once(ctx: AppContext) -> None:
    account = await make_account(ctx)
    async with ctx.db.session() as session:
        session.add(
            SyncLog(
                account_id=account.id,
                kind="orders",
                mode="full",
                status="completed",
                trigger="api",
                errors=[],
                created_at=datetime.now(UTC) - timedelta(hours=2),
            )
        )
        session.add(
            SyncLog(
                account_id=account.id,
                kind="offers",
                mode="full",
                status="completed",
                trigger="api",
                errors=[],
                created_at=datetime.now(UTC) - timedelta(minutes=1),
            )
        )
        await session.commit()
    dispatched: list[int] = []

    async def dispatch(run_id: int) -> None:
        dispatched.append(run_id)

    maintenance = Maintenance(ctx, dispatch)
    fired = await maintenance.fire_schedules()
    assert fired == dispatched and len(fired) == 1  # orders are due (5 min); offers not (1 h)
    assert await maintenance.fire_schedules() == []  # the new run is active: nothing doubles
    async with ctx.db.session() as session:
        run = (await session.execute(select(SyncLog).where(SyncLog.id == fired[0]))).scalar_one()
    assert (run.kind, run.mode, run.trigger, run.status) == (
        "orders",
        "incremental",
        "schedule",
        "queued",
    )
