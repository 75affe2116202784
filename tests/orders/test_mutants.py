"""Order write-back: behaviour the mutation sample found unasserted (issue 19).

Against the simulator over HTTP. What MagFlow sent to eMAG is read from the audit log (admins'
``GET /api/v1/audit``), which records every write's request body as sent.
"""

from __future__ import annotations

from typing import Any

from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from tests.orders.support import Clients, sim_order
from tests.orders.test_actions import SENDER, local_orders, new_orders
from tests.support.simulation import Accounts


async def audit(clients: Clients, **params: Any) -> list[dict[str, Any]]:
    response = await clients.admin.get("/api/v1/audit", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_repeated_acknowledgement_keeps_the_first_time(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    (order,) = await new_orders(ctx, sim, accounts, 1)
    first = await clients.operator.post(f"/api/v1/emag/orders/{order.id}/acknowledge")
    assert first.status_code == 200, first.text
    acknowledged_at = first.json()["order"]["acknowledged_at"]
    assert acknowledged_at

    again = await clients.operator.post(f"/api/v1/emag/orders/{order.id}/acknowledge")
    assert again.status_code == 200, again.text
    assert again.json()["order"]["acknowledged_at"] == acknowledged_at
    stored = (await local_orders(ctx, accounts.main.id))[order.emag_id]
    assert stored.acknowledged_at is not None
    assert stored.acknowledged_at.isoformat()[:19] == acknowledged_at[:19]


async def test_the_cancellation_reason_is_sent_to_emag(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    (order,) = await new_orders(ctx, sim, accounts, 1)
    api = clients.operator
    assert (await api.post(f"/api/v1/emag/orders/{order.id}/acknowledge")).status_code == 200
    response = await api.post(
        f"/api/v1/emag/orders/{order.id}/status", json={"status": "cancelled", "reason": 7}
    )
    assert response.status_code == 200, response.text
    assert (await sim_order(sim, order.emag_id))["status"] == 0
    [save] = await audit(clients, action="orders.status", target=f"order:{order.emag_id}")
    [sent] = save["request"]["data"]
    assert (sent["id"], sent["status"], sent["reason_cancellation"]) == (order.emag_id, 0, 7)


async def test_bulk_acknowledgement_keeps_every_order_and_its_audit_row(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    """Each order is committed as soon as eMAG acknowledged it, so no write lock is held across
    the next order's eMAG call: every order's audit row is written (on SQLite one held lock
    would make the next audit write wait, then drop it)."""
    orders = await new_orders(ctx, sim, accounts, 3)
    response = await clients.operator.post(
        "/api/v1/emag/orders/acknowledge", json={"ids": [o.id for o in orders]}
    )
    assert response.status_code == 200, response.text
    assert [(r["order_id"], r["ok"], r["status"]) for r in response.json()] == [
        (o.id, True, 2) for o in orders
    ]
    rows = await audit(clients, action="orders.acknowledge")
    assert sorted(r["target"] for r in rows) == sorted(f"order:{o.emag_id}" for o in orders)
    assert all(r["success"] for r in rows)
    stored = await local_orders(ctx, accounts.main.id)
    for order in orders:
        assert stored[order.emag_id].status == 2
        assert stored[order.emag_id].acknowledged_at is not None
        assert (await sim_order(sim, order.emag_id))["status"] == 2


async def test_awb_receiver_overrides_are_sent(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    """The receiver defaults to the order's shipping data; what the user gives replaces it."""
    (order,) = await new_orders(ctx, sim, accounts, 1)
    api = clients.operator
    assert (await api.post(f"/api/v1/emag/orders/{order.id}/acknowledge")).status_code == 200
    receiver = {"name": "Maria Receptie", "contact": "Maria Receptie", "phone1": "0733111222"}
    response = await api.post(
        f"/api/v1/emag/orders/{order.id}/awb",
        json={"sender": SENDER, "receiver": receiver, "parcel_number": 1},
    )
    assert response.status_code == 200, response.text
    [row] = await audit(clients, action="orders.awb", target=f"order:{order.emag_id}")
    sent = row["request"]["data"]["receiver"]
    assert {k: sent[k] for k in receiver} == receiver
    # what was not overridden still comes from the order
    customer = order.customer or {}
    assert sent["street"] == customer.get("shipping_street")
