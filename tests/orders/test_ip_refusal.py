"""Order write-back when eMAG refuses the server's IP (issue 13, point 10): ``ERROR: Invalid vendor
ip [x.x.x.x]`` (docs/emag-protocol.md, "Answers and errors") is shown with what to do, and a bulk
acknowledgement stops calling eMAG after the first refusal."""

from __future__ import annotations

from magflow.context import AppContext
from magflow.emag.errors import IP_WHITELIST_HINT
from magflow.emag_sim import SimulatorServer
from tests.orders.support import Clients, route_count, sim_stats
from tests.orders.test_actions import new_orders
from tests.support.simulation import Accounts, set_faults


async def test_an_ip_refusal_is_shown_with_its_hint_and_stops_a_bulk_acknowledgement(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    orders = await new_orders(ctx, sim, accounts, 3)
    await set_faults(sim, vendor_ip_refused=[accounts.main.username])
    before = route_count(await sim_stats(sim), "order/acknowledge")

    one = await clients.operator.post(f"/api/v1/emag/orders/{orders[0].id}/acknowledge")
    assert one.status_code == 502, one.text
    detail = one.json()["detail"]
    assert detail["emag_messages"] == ["ERROR: Invalid vendor ip [127.0.0.1]"]
    assert detail["hint"] == IP_WHITELIST_HINT

    bulk = await clients.operator.post(
        "/api/v1/emag/orders/acknowledge", json={"ids": [o.id for o in orders]}
    )
    assert bulk.status_code == 200, bulk.text
    outcomes = bulk.json()
    assert [o["ok"] for o in outcomes] == [False, False, False]
    assert IP_WHITELIST_HINT in outcomes[0]["error"]
    assert all(o["error"].startswith("not sent: ") for o in outcomes[1:])
    # each answer carries eMAG's refusal, the ones not sent too
    assert [o["emag_messages"] for o in outcomes] == [detail["emag_messages"]] * 3
    # One call for the single acknowledgement, one for the bulk: none after the first refusal.
    assert route_count(await sim_stats(sim), "order/acknowledge") == before + 2
