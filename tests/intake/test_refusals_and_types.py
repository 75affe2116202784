"""The intake job against two things real eMAG does (issue 13): an FBE order (type 2) on a MAIN
account, announced like any other, is read as type 2 and never acknowledged (point 4); and eMAG's
refusal of the server's IP (``ERROR: Invalid vendor ip [...]``, docs/emag-protocol.md, "Answers and
errors") stops the job at once and holds the account's intake, so that neither the poll nor a
callback makes it call eMAG again until the pause is over or a sync run gets through (point 10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.intake import repository
from magflow.intake.work import IntakeWorker, accounts_to_poll
from magflow.jobs.schedule import IP_REFUSAL_PAUSE
from magflow.sync.models import SyncKind
from tests.intake.support import intake_rows
from tests.orders.support import route_count, sim_control, sim_stats
from tests.support.simulation import Accounts, set_faults, sync


async def _announce(ctx: AppContext, account_id: int, ids: list[int]) -> None:
    """What a callback does: a pending intake row per order."""
    async with ctx.db.session() as session:
        await repository.add_if_absent(session, account_id, ids, "callback", datetime.now(UTC))
        await session.commit()


def _emag_calls(stats: dict[str, object]) -> int:
    return sum(route_count(stats, route) for route in ("order/read", "order/count"))  # type: ignore[arg-type]


async def test_an_fbe_order_of_a_main_account_is_read_as_type_2_and_not_acknowledged(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    created = await sim_control(
        sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1, "type": 2}
    )
    (order_id,) = created["created"]
    await _announce(ctx, accounts.main.id, [order_id])
    before = route_count(await sim_stats(sim), "order/acknowledge")
    report = await IntakeWorker(ctx).execute(accounts.main.id)
    assert report.outcomes == {order_id: "fbe"}
    assert route_count(await sim_stats(sim), "order/acknowledge") == before


async def test_an_ip_refusal_holds_the_intake_instead_of_retrying(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    await set_faults(sim, vendor_ip_refused=[accounts.main.username])
    created = (await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 2}))[
        "created"
    ]
    start = datetime.now(UTC)
    before = _emag_calls(await sim_stats(sim))

    polled = await IntakeWorker(ctx).execute(accounts.main.id, poll=True)
    # One call (the poll's count), refused: the job stops there.
    assert _emag_calls(await sim_stats(sim)) == before + 1
    assert polled.held_until is not None and polled.held_until >= start + IP_REFUSAL_PAUSE

    # The callbacks of the new orders come in: the job sends nothing and the orders wait.
    await _announce(ctx, accounts.main.id, created)
    again = await IntakeWorker(ctx).execute(accounts.main.id)
    assert again.held_until == polled.held_until and again.stored == 0
    assert _emag_calls(await sim_stats(sim)) == before + 1
    rows = await intake_rows(ctx, accounts.main.id)
    for order_id in created:
        assert rows[order_id].state == "pending"
        waits = rows[order_id].next_attempt_at
        waits = waits if waits.tzinfo else waits.replace(tzinfo=UTC)
        assert waits >= start + IP_REFUSAL_PAUSE - timedelta(seconds=1)
        assert "Invalid vendor ip" in (rows[order_id].last_error or "")
    # The catch-up poll is not due for the held account; the other account's is.
    assert await accounts_to_poll(ctx) == [accounts.fbe.id]

    # The seller whitelists the IP and starts a sync, as the hint says: the hold is lifted.
    await set_faults(sim)
    assert (await sync(ctx, accounts.main, SyncKind.orders)).status == "completed"
    assert await accounts_to_poll(ctx) == [accounts.main.id]
    resumed = await IntakeWorker(ctx).execute(accounts.main.id)
    assert resumed.held_until is None
    assert {resumed.outcomes.get(i) for i in created} == {"stored"}
