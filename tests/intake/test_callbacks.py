"""eMAG's callbacks end to end: the simulator calls the URLs MagFlow shows, MagFlow stores and
acknowledges each order once (docs/emag-protocol.md, "Callbacks")."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select, update

from magflow.audit.models import AuditLog
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.intake import todo
from magflow.intake.deadlines import TodoKind
from magflow.intake.models import OrderIntake
from magflow.intake.work import IntakeWorker
from magflow.orders.models import EmagOrder
from magflow.performance import service as performance
from tests.intake.support import eventually, intake_rows
from tests.orders.support import Clients, sim_control
from tests.support.simulation import Accounts


async def _configure(sim: SimulatorServer, clients: Clients, name: str) -> dict[str, str]:
    """Paste the account's callback URLs in the simulator, as a seller does in eMAG's UI."""
    answer = (await clients.admin.get(f"/api/v1/accounts/{name}/callbacks")).json()
    urls = {u["kind"]: u["url"] for u in answer["urls"]}
    await sim_control(sim, "POST", f"/_sim/accounts/{name}/callbacks", json=urls)
    return urls


async def test_new_orders_are_stored_and_acknowledged_once_whatever_the_repeats(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    patched = await clients.admin.patch("/api/v1/accounts/main", json={"auto_acknowledge": True})
    assert patched.status_code == 200 and patched.json()["auto_acknowledge"] is True
    urls = await _configure(sim, clients, "main")
    created = (await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 3}))[
        "created"
    ]

    async def acknowledged() -> bool:
        rows = await intake_rows(ctx, accounts.main.id)
        return all(rows.get(i) and rows[i].outcome == "acknowledged" for i in created)

    await eventually(acknowledged)
    # eMAG repeats the callback until acknowledged; more repeats after that change nothing.
    async with httpx.AsyncClient() as client:
        for _ in range(3):
            answer = await client.get(urls["order"], params={"order_id": created[0]})
            assert answer.status_code == 200 and answer.json()["detail"] == "already handled"
    for order_id in created:
        on_emag = await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{order_id}")
        assert on_emag["status"] == 2
    async with ctx.db.session() as session:
        stored = (
            await session.execute(select(EmagOrder).where(EmagOrder.emag_id.in_(created)))
        ).scalars()
        assert {o.emag_id: (o.status, o.acknowledged_at is not None) for o in stored} == {
            i: (2, True) for i in created
        }
        acks = await session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "orders.acknowledge")
        )
    assert acks == 3  # one acknowledgement per order
    # Acknowledged: "ship" replaces "acknowledge" on the to-do list, and the seller performance's
    # acknowledgement time measures them.
    async with ctx.db.session() as session:
        now = datetime.now(UTC)
        todos = await todo.todo_list(
            session, accounts.main, now, todo.rules_from(ctx.settings), limit=100
        )
        measured = await performance.performance(session, accounts.main, 7, now)
    assert {(t.kind, t.emag_order_id) for t in todos.items if t.emag_order_id in created} == {
        (TodoKind.SHIP, i) for i in created
    }
    ack_time = next(m for m in measured.metrics if m.spec.key == "ack_time_median")
    assert ack_time.current.denominator == 3 and ack_time.current.value is not None
    stats = await sim_control(sim, "GET", "/_sim/stats")
    assert sum(stats["requests"]["order/acknowledge"].values()) == 3
    # eMAG cancels one (the customer, in eMAG's UI): its cancellation callback makes MagFlow
    # read the order again.
    emag = sim.state.account("main")
    assert emag is not None
    index = emag.order_index(created[1])
    assert index is not None
    emag.set_order_status(index, 0, time.time())

    async def cancelled() -> bool:
        async with ctx.db.session() as session:
            status = await session.scalar(
                select(EmagOrder.status).where(
                    EmagOrder.account_id == accounts.main.id, EmagOrder.emag_id == created[1]
                )
            )
        return bool(status == 0)

    await eventually(cancelled)
    # the simulator stops repeating once acknowledged
    await eventually(
        lambda: (
            sim_control(sim, "GET", "/_sim/callbacks").__await__().__next__  # type: ignore[no-any-return]
            if False
            else _no_pending(sim)
        )
    )


async def _no_pending(sim: SimulatorServer) -> bool:
    return (await sim_control(sim, "GET", "/_sim/callbacks"))["pending"] == 0


async def test_bad_callbacks_get_clear_answers_and_nothing_is_lost(
    ctx: AppContext,
    sim: SimulatorServer,
    accounts: Accounts,
    clients: Clients,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="magflow.intake")
    urls = {
        u["kind"]: u["url"]
        for u in (await clients.admin.get("/api/v1/accounts/main/callbacks")).json()["urls"]
    }
    base = urls["order"].rsplit("/", 1)[0]
    async with httpx.AsyncClient() as client:
        for query in ("order_id=abc", "order_id=-4", "order_id=0", "order_id=1e3", "", "x=1"):
            answer = await client.get(f"{urls['order']}?{query}")
            assert answer.status_code == 400, (query, answer.text)
        assert (await client.get(f"{base}/nonsense?order_id=5")).status_code == 404
        # an order eMAG does not know: taken, then marked unknown
        answer = await client.get(urls["order"], params={"order_id": 987654321})
        assert answer.status_code == 200
        # a disabled account: recorded, handled once it is enabled again
        await clients.admin.patch("/api/v1/accounts/main", json={"is_active": False})
        created = (
            await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1})
        )["created"]
        answer = await client.get(urls["order"], params={"order_id": created[0]})
        assert answer.status_code == 200 and "disabled" in answer.json()["detail"]

    async def unknown_marked() -> bool:
        row = (await intake_rows(ctx, accounts.main.id)).get(987654321)
        return row is not None and row.state == "unknown"

    await eventually(unknown_marked)
    assert (await intake_rows(ctx, accounts.main.id))[created[0]].state == "pending"
    await clients.admin.patch("/api/v1/accounts/main", json={"is_active": True})
    # This worker or the app's own job timer (which also finds the account due again) handles
    # it: whichever does, the order ends stored once, not acknowledged (auto_acknowledge off).
    await IntakeWorker(ctx).execute(accounts.main.id)

    async def handled() -> OrderIntake | None:
        row = (await intake_rows(ctx, accounts.main.id))[created[0]]
        return row if row.state == "done" else None

    row = await eventually(handled)
    assert row.outcome == "stored"
    # Each case says what happened in one clear log line.
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("magflow.intake")]
    for expected in (
        "of account main with a malformed query string: order_id must be a positive whole number",
        "new-order callback of account main without order_id",
        "eMAG does not know order 987654321 (callback or poll); ignored",
        f"callback order for order {created[0]} of disabled account main: recorded, handled once",
    ):
        assert any(expected in line for line in logged), (expected, logged)


async def test_emag_down_while_handling_is_retried_later(
    ctx: AppContext,
    sim: SimulatorServer,
    accounts: Accounts,
    clients: Clients,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="magflow.intake")
    await clients.admin.patch("/api/v1/accounts/main", json={"auto_acknowledge": True})
    urls = {
        u["kind"]: u["url"]
        for u in (await clients.admin.get("/api/v1/accounts/main/callbacks")).json()["urls"]
    }
    created = (await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1}))[
        "created"
    ]
    await sim_control(sim, "POST", "/_sim/faults", json={"500": 1.0, "routes": ["order/"]})
    async with httpx.AsyncClient() as client:
        assert (await client.get(urls["order"], params={"order_id": created[0]})).status_code == 200

    async def postponed() -> OrderIntake | None:
        row = (await intake_rows(ctx, accounts.main.id)).get(created[0])
        return row if row is not None and row.attempts >= 1 and row.claimed_by is None else None

    row = await eventually(postponed, timeout=60)
    assert row.state == "pending" and "eMAG" in (row.last_error or "")
    assert any(
        "intake of account main: reading 1 orders from eMAG failed" in r.getMessage()
        and "retried in 30 s" in r.getMessage()
        for r in caplog.records
    ), caplog.text
    await sim_control(sim, "POST", "/_sim/faults", json={"replace": True})
    async with ctx.db.session() as session:  # the retry comes due (30 s later in real life)
        await session.execute(update(OrderIntake).values(next_attempt_at=row.received_at))
        await session.commit()
    report = await IntakeWorker(ctx).execute(accounts.main.id)

    async def acknowledged() -> bool:
        row = (await intake_rows(ctx, accounts.main.id))[created[0]]
        return row.outcome == "acknowledged"

    # This worker or the app's own job timer (which finds the order due too) acknowledges it.
    await eventually(acknowledged)
    assert report.outcomes in ({created[0]: "acknowledged"}, {})


async def test_unknown_secrets_get_404_then_429_and_rotation_retires_old_urls(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    old = (await clients.admin.get("/api/v1/accounts/main/callbacks")).json()["urls"][0]["url"]
    rotated = await clients.admin.post("/api/v1/accounts/main/callbacks/rotate")
    assert rotated.status_code == 200
    new = rotated.json()["urls"][0]["url"]
    assert new != old
    assert (await clients.viewer.get("/api/v1/accounts/main/callbacks")).status_code == 403
    async with httpx.AsyncClient() as client:
        assert (await client.get(new, params={"order_id": 1})).status_code == 200
        codes = [(await client.get(old, params={"order_id": 1})).status_code for _ in range(11)]
        assert codes == [404] * 10 + [429]
        # a known secret is never limited
        assert (await client.get(new, params={"order_id": 1})).status_code == 200
