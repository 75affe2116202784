"""The catch-up poll: new orders whose callback never came are stored (and acknowledged) within
one poll interval; FBE orders are never acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime

from magflow.accounts import service as accounts_service
from magflow.accounts.schemas import AccountUpdate
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.intake import service
from magflow.intake.work import IntakeWorker, accounts_to_poll
from magflow.jobs.maintenance import Maintenance
from tests.intake.support import eventually, intake_rows
from tests.orders.support import Clients, sim_control
from tests.support.simulation import Accounts


async def test_the_poll_finds_new_orders_no_callback_announced(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await clients.admin.patch("/api/v1/accounts/main", json={"auto_acknowledge": True})
    created = (await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 2}))[
        "created"
    ]
    # one process takes each poll turn: the second ask finds it taken
    due = await accounts_to_poll(ctx)
    assert set(due) == {accounts.main.id, accounts.fbe.id}
    assert await accounts_to_poll(ctx) == []
    report = await IntakeWorker(ctx).execute(accounts.main.id, poll=True)
    assert {i: report.outcomes.get(i) for i in created} == dict.fromkeys(created, "acknowledged")
    for order_id in created:
        on_emag = await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{order_id}")
        assert on_emag["status"] == 2
    # a second poll finds nothing new to do
    again = await IntakeWorker(ctx).execute(accounts.main.id, poll=True)
    assert again.acknowledged == 0 and again.polled == 0


async def test_fbe_orders_are_stored_but_never_acknowledged(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await clients.admin.patch("/api/v1/accounts/fbe", json={"auto_acknowledge": True})
    answer = (await clients.admin.get("/api/v1/accounts/fbe/callbacks")).json()
    urls = {u["kind"]: u["url"] for u in answer["urls"]}
    await sim_control(sim, "POST", "/_sim/accounts/fbe/callbacks", json={"order": urls["order"]})
    created = (await sim_control(sim, "POST", "/_sim/accounts/fbe/orders/new", json={"count": 8}))[
        "created"
    ]
    types = {
        i: (await sim_control(sim, "GET", f"/_sim/accounts/fbe/orders/{i}"))["type"]
        for i in created
    }
    assert 2 in types.values()

    async def handled() -> bool:
        rows = await intake_rows(ctx, accounts.fbe.id)
        return all(rows.get(i) is not None and rows[i].state == "done" for i in created)

    await eventually(handled)
    rows = await intake_rows(ctx, accounts.fbe.id)
    for order_id, order_type in types.items():
        assert rows[order_id].outcome == ("fbe" if order_type == 2 else "acknowledged")
    stats = await sim_control(sim, "GET", "/_sim/stats")
    acks = stats["requests"].get("order/acknowledge", {})
    assert sum(acks.values()) == sum(1 for t in types.values() if t == 3)


async def test_the_timer_dispatches_pending_orders_nobody_works_on(
    ctx: AppContext, accounts: Accounts
) -> None:
    """A recorded order whose job was lost (a process died, a retry came due) is dispatched by
    the maintenance timer; a disabled account's orders wait."""
    async with ctx.db.session() as session:
        for account in (accounts.main, accounts.fbe):
            got = await service.receive(
                session, account, service.CallbackKind.order, 4242, datetime.now(UTC)
            )
            assert got.recorded
        await accounts_service.update_account(
            session, accounts.fbe.id, AccountUpdate(is_active=False)
        )
        await session.commit()
    dispatched: list[tuple[int, bool]] = []

    async def record(account_id: int, poll: bool) -> None:
        dispatched.append((account_id, poll))

    async def nothing(_id: int) -> None:
        return None

    await Maintenance(ctx, nothing, dispatch_intake=record).intake_tick()
    assert dispatched == [(accounts.main.id, False)]
