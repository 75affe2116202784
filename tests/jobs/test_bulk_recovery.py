"""The maintenance timer dispatches the bulk operations nobody executes, and only those; the
database claim lets exactly one of several processes take an operation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from magflow.bulk import repository
from magflow.bulk.models import BulkOperation
from magflow.context import AppContext
from magflow.jobs.maintenance import Maintenance


async def test_stalled_released_and_forgotten_operations_are_dispatched(ctx: AppContext) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(hours=1)
    rows = {
        "alive": BulkOperation(status="running", worker_id="a:1", heartbeat_at=now),
        "released": BulkOperation(status="running", worker_id=None, heartbeat_at=None),
        "dead": BulkOperation(status="running", worker_id="b:2", heartbeat_at=old),
        "just queued": BulkOperation(status="queued"),
        "forgotten": BulkOperation(status="queued", created_at=old),
        "finished": BulkOperation(status="completed", worker_id="b:2", heartbeat_at=old),
    }
    async with ctx.db.session() as session:
        session.add_all(rows.values())
        await session.commit()
        ids = {name: op.id for name, op in rows.items()}
    dispatched: list[int] = []

    async def dispatch_run(run_id: int) -> None:
        raise AssertionError("no sync run is stalled")

    async def dispatch_bulk(operation_id: int) -> None:
        dispatched.append(operation_id)

    found = await Maintenance(ctx, dispatch_run, dispatch_bulk).recover_stalled_bulk()
    assert found == dispatched == [ids["released"], ids["dead"], ids["forgotten"]]


async def test_one_claim_wins_and_a_live_claim_is_not_taken(ctx: AppContext) -> None:
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        op = BulkOperation(status="running", worker_id="dead:1", heartbeat_at=now - timedelta(1))
        session.add(op)
        await session.commit()
        op_id = op.id

    async def claim(worker: str) -> bool:
        async with ctx.db.session() as session:
            taken = await repository.claim(session, op_id, worker, now - timedelta(minutes=1))
            await session.commit()
            return taken

    results = await asyncio.gather(*(claim(f"w:{n}") for n in range(4)))
    assert sorted(results) == [False, False, False, True]
    winner = f"w:{results.index(True)}"
    assert not await claim("late:9")  # its heartbeat is fresh now
    async with ctx.db.session() as session:
        assert not await repository.beat(session, op_id, "late:9")
        assert await repository.beat(session, op_id, winner)
        await repository.release(session, op_id, winner)
        await session.commit()
    assert await claim("next:5")  # released: taken at once
