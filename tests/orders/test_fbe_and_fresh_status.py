"""Order types per order (FBE orders are eMAG's to handle) and status changes sent on the copy
eMAG has now (docs/emag-protocol.md, "Orders"), against the simulator over HTTP."""

from __future__ import annotations

import pytest

from magflow.context import AppContext
from magflow.emag.codes import OrderStatus
from magflow.emag_sim import SimulatorServer
from magflow.orders.actions import status_reached
from magflow.sync.models import SyncKind
from tests.orders.support import Clients, route_count, sim_control, sim_order, sim_stats
from tests.orders.test_actions import SENDER, local_orders, new_orders
from tests.support.simulation import Accounts, sync

C, N, P2, P3, F, R = 0, 1, 2, 3, 4, 5


@pytest.mark.parametrize(
    ("seen", "current", "target", "why"),
    [
        (P2, P3, P3, "already has it prepared"),
        (P2, F, P3, "finalized, past prepared"),
        (P2, R, P3, "returned, past prepared"),
        (P3, R, F, "returned, past finalized"),
        (P2, C, C, "already has it cancelled"),
        (P2, C, P3, "eMAG cancelled it"),
        (P2, C, F, "eMAG cancelled it"),
        (P2, P2, P3, None),
        (P2, P3, F, None),
        (N, N, P3, None),  # eMAG refuses 1 → 3 with its own message
        (C, C, P3, None),  # cancelled when the user asked: a deliberate reactivation
        (P2, F, C, None),  # cancelling a finalized order: eMAG's 48 h rule decides
        (F, R, C, None),  # eMAG refuses 5 → 0 with its own message
        (P2, None, P3, None),
    ],
)
def test_status_reached(seen: int, current: int | None, target: int, why: str | None) -> None:
    found = status_reached(seen, current, target)
    assert (found is None) == (why is None), found
    if why is not None:
        assert found is not None and why in found


async def test_fbe_orders_are_refused_locally_and_take_attachments(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    """An FBE order on a MAIN account (the type is per order): the sync reads it, and
    acknowledging, status changes and AWBs are refused with 409 before anything is sent; bulk
    acknowledgement reports it per order; invoices still go through."""
    api = clients.operator
    created = await sim_control(
        sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1, "type": 2}
    )
    (seller,) = await new_orders(ctx, sim, accounts, 1)  # syncs the FBE one too
    fbe = (await local_orders(ctx, accounts.main.id))[created["created"][0]]
    assert fbe.order_type == 2 and fbe.status == OrderStatus.NEW
    before = await sim_stats(sim)

    for path, body in (
        (f"/api/v1/emag/orders/{fbe.id}/acknowledge", None),
        (f"/api/v1/emag/orders/{fbe.id}/status", {"status": 0, "reason": 2}),
        (f"/api/v1/emag/orders/{fbe.id}/awb", {"sender": SENDER}),
    ):
        response = await api.post(path, json=body)
        assert response.status_code == 409, (path, response.text)
        assert "fulfilled by eMAG" in response.json()["detail"]
    response = await api.post("/api/v1/emag/orders/acknowledge", json={"ids": [fbe.id, seller.id]})
    assert response.status_code == 200, response.text
    outcome = {r["order_id"]: r for r in response.json()}
    assert not outcome[fbe.id]["ok"] and "fulfilled by eMAG" in outcome[fbe.id]["error"]
    assert outcome[seller.id]["ok"] and outcome[seller.id]["status"] == 2

    after = await sim_stats(sim)
    assert route_count(after, "order/acknowledge") == route_count(before, "order/acknowledge") + 1
    for route in ("order/save", "awb/save", "order/read"):
        assert route_count(after, route) == route_count(before, route) + (route == "order/read")
    assert (await sim_order(sim, fbe.emag_id))["status"] == OrderStatus.NEW

    url = "https://files.example.com/fbe-invoice.pdf"
    response = await api.post(
        f"/api/v1/emag/orders/{fbe.id}/attachments", json={"url": url, "name": "Factura FBE"}
    )
    assert response.status_code == 200, response.text
    assert url in [a["url"] for a in (await sim_order(sim, fbe.emag_id))["attachments"]]


async def test_a_status_change_keeps_what_changed_on_emag_since_the_last_sync(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    """The order is re-read before ``order/save``: a customer's edit made on eMAG after the last
    sync (the simulator's ``edit_after_read``) survives the status change; a status set in eMAG's
    UI (finalized, cancelled) is not moved back, and nothing is sent for it."""
    api = clients.operator
    edited, finalized, cancelled = await new_orders(ctx, sim, accounts, 3)
    ids = [edited.id, finalized.id, cancelled.id]
    response = await api.post("/api/v1/emag/orders/acknowledge", json={"ids": ids})
    assert all(r["ok"] for r in response.json()), response.text
    # the next sync's read is followed by an eMAG-side edit of every seller order it read
    await sim_control(sim, "POST", "/_sim/faults", json={"edit": 1.0})
    await sync(ctx, accounts.main, SyncKind.orders)
    street = (await sim_order(sim, edited.emag_id))["customer"]["shipping_street"]
    stale = (await local_orders(ctx, accounts.main.id))[edited.emag_id]
    assert street.endswith("(changed by the customer)") and stale.customer is not None
    assert stale.customer["shipping_street"] != street  # MagFlow's copy is stale

    def edit_path(emag_id: int) -> str:
        return f"/_sim/accounts/main/orders/{emag_id}/edit"

    await sim_control(sim, "POST", edit_path(finalized.emag_id), json={"status": 4})
    await sim_control(sim, "POST", edit_path(cancelled.emag_id), json={"status": 0})

    response = await api.post(f"/api/v1/emag/orders/{edited.id}/status", json={"status": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sent"] is True and body["order"]["status"] == 3
    assert body["order"]["customer"]["shipping_street"] == street
    on_emag = await sim_order(sim, edited.emag_id)
    assert on_emag["status"] == 3 and on_emag["customer"]["shipping_street"] == street
    assert on_emag["observation"] == "Please ring twice"

    saves = route_count(await sim_stats(sim), "order/save")
    for order, target, status, why in (
        (finalized, 3, 4, "finalized, past prepared"),
        (cancelled, 4, 0, "eMAG cancelled it"),
    ):
        response = await api.post(f"/api/v1/emag/orders/{order.id}/status", json={"status": target})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["sent"] is False and why in body["note"], body
        assert body["order"]["status"] == status
        assert (await sim_order(sim, order.emag_id))["status"] == status
        stored = (await local_orders(ctx, accounts.main.id))[order.emag_id]
        assert stored.status == status
    assert route_count(await sim_stats(sim), "order/save") == saves

    # now that MagFlow shows it cancelled, asking again reactivates it (eMAG: within 48 h)
    response = await api.post(f"/api/v1/emag/orders/{cancelled.id}/status", json={"status": 4})
    assert response.status_code == 200 and response.json()["sent"] is True, response.text
    assert (await sim_order(sim, cancelled.emag_id))["status"] == 4
