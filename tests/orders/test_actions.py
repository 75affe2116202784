"""Order write-back against the simulator over HTTP: every transition, eMAG's refusals, AWB,
attachments, roles and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from tests.orders.support import Clients, route_count, sim_control, sim_order, sim_stats
from tests.support.simulation import Accounts, sync

SENDER = {
    "name": "MagFlow Test SRL",
    "contact": "Ion Popescu",
    "phone1": "0722000111",
    "locality_id": 8801,
    "street": "Strada Depozitului 1",
}


async def local_orders(ctx: AppContext, account_id: int) -> dict[int, EmagOrder]:
    async with ctx.db.session() as session:
        rows = await session.execute(select(EmagOrder).where(EmagOrder.account_id == account_id))
        return {o.emag_id: o for o in rows.scalars()}


async def new_orders(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, n: int
) -> list[EmagOrder]:
    created = (await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": n}))[
        "created"
    ]
    await sync(ctx, accounts.main, SyncKind.orders)
    stored = await local_orders(ctx, accounts.main.id)
    return [stored[int(i)] for i in created]


def refused(response: httpx.Response, fragment: str) -> None:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(fragment in m for m in detail["emag_messages"]), detail


def snapshot(order: EmagOrder) -> tuple[Any, ...]:
    return (order.status, order.raw, order.acknowledged_at, order.awb_number, order.updated_at)


async def test_order_lifecycle_ack_prepare_awb_invoice(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    api = clients.operator
    order, other, third = await new_orders(ctx, sim, accounts, 3)
    assert order.status == 1

    # 1 → 3 is forbidden (only acknowledge leaves 1): eMAG's message, nothing changed locally.
    before = snapshot((await local_orders(ctx, accounts.main.id))[order.emag_id])
    response = await api.post(f"/api/v1/emag/orders/{order.id}/status", json={"status": "prepared"})
    refused(response, "Status cannot be changed from 1 to 3")
    assert snapshot((await local_orders(ctx, accounts.main.id))[order.emag_id]) == before
    assert (await sim_order(sim, order.emag_id))["status"] == 1

    # An AWB before acknowledging is refused too.
    response = await api.post(f"/api/v1/emag/orders/{order.id}/awb", json={"sender": SENDER})
    refused(response, "must be acknowledged")

    # acknowledge 1 → 2
    response = await api.post(f"/api/v1/emag/orders/{order.id}/acknowledge")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refreshed"] is True
    assert body["order"]["status"] == 2 and body["order"]["acknowledged_at"]
    assert (await sim_order(sim, order.emag_id))["status"] == 2

    # acknowledge again: harmless
    response = await api.post(f"/api/v1/emag/orders/{order.id}/acknowledge")
    assert response.status_code == 200 and response.json()["order"]["status"] == 2

    # bulk acknowledge, with an order MagFlow never stored
    response = await api.post(
        "/api/v1/emag/orders/acknowledge", json={"ids": [other.id, third.id, 987654]}
    )
    assert response.status_code == 200, response.text
    outcome = {r["order_id"]: r for r in response.json()}
    assert outcome[other.id]["ok"] and outcome[other.id]["status"] == 2
    assert outcome[third.id]["ok"]
    assert not outcome[987654]["ok"] and "no order" in outcome[987654]["error"]

    # 2 → 3 prepared, order/save with the whole order as read
    response = await api.post(f"/api/v1/emag/orders/{order.id}/status", json={"status": 3})
    assert response.status_code == 200, response.text
    assert response.json()["order"]["status"] == 3
    assert (await sim_order(sim, order.emag_id))["status"] == 3

    # AWB: courier chosen from the list; COD from the order total when payment is COD
    couriers = await api.get("/api/v1/emag/courier-accounts", params={"account": "main"})
    assert couriers.status_code == 200
    courier = couriers.json()[1]["account_id"]
    response = await api.post(
        f"/api/v1/emag/orders/{order.id}/awb",
        json={"sender": SENDER, "courier_account_id": courier, "parcel_number": 2, "weight": 1.5},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order"]["status"] == 4
    assert body["order"]["awb_number"] == body["awb"]["awb_number"]
    assert body["awb"]["awb_number"].startswith("4EMGSIM")
    expected_cod = Decimal(body["order"]["total_with_vat"]) if order.payment_mode_id == 1 else 0
    assert Decimal(str(body["awb"]["cod"])) == expected_cod
    assert (await sim_order(sim, order.emag_id))["status"] == 4
    stored = (await local_orders(ctx, accounts.main.id))[order.emag_id]
    assert stored.status == 4 and stored.awb_number == body["awb"]["awb_number"]

    # invoice by URL; a non-PDF is refused with eMAG's message
    response = await api.post(
        f"/api/v1/emag/orders/{order.id}/attachments",
        json={"url": "https://files.example.com/invoice.docx", "name": "Factura 1"},
    )
    refused(response, "Only PDF")
    url = f"https://files.example.com/invoices/{order.emag_id}.pdf"
    response = await api.post(
        f"/api/v1/emag/orders/{order.id}/attachments",
        json={"url": url, "name": "Factura 1", "type": "invoice"},
    )
    assert response.status_code == 200, response.text
    assert url in [a["url"] for a in response.json()["order"]["attachments"]]
    assert url in [a["url"] for a in (await sim_order(sim, order.emag_id))["attachments"]]
    # a warranty needs the order line
    response = await api.post(
        f"/api/v1/emag/orders/{order.id}/attachments",
        json={"url": url.replace(".pdf", "-w.pdf"), "name": "Garantie", "type": "warranty"},
    )
    assert response.status_code == 422


async def test_cancel_and_forbidden_transitions(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    api = clients.operator
    (order,) = await new_orders(ctx, sim, accounts, 1)
    assert (await api.post(f"/api/v1/emag/orders/{order.id}/acknowledge")).status_code == 200

    # a cancellation needs a reason: refused locally, nothing sent
    response = await api.post(f"/api/v1/emag/orders/{order.id}/status", json={"status": 0})
    assert response.status_code == 422
    # status 2 can only be reached by acknowledging, 1 and 5 never: refused locally
    for value in (1, 2, 5):
        response = await api.post(f"/api/v1/emag/orders/{order.id}/status", json={"status": value})
        assert response.status_code == 422

    response = await api.post(
        f"/api/v1/emag/orders/{order.id}/status", json={"status": "cancelled", "reason": 2}
    )
    assert response.status_code == 200, response.text
    assert response.json()["order"]["status"] == 0
    assert (await sim_order(sim, order.emag_id))["status"] == 0

    stored = await local_orders(ctx, accounts.main.id)
    # returned (5) is past prepared: nothing is sent, the answer says why
    returned = next(o for o in stored.values() if o.status == 5 and o.order_type == 3)
    saves = route_count(await sim_stats(sim), "order/save")
    response = await api.post(f"/api/v1/emag/orders/{returned.id}/status", json={"status": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sent"] is False and "returned" in body["note"] and body["order"]["status"] == 5
    assert route_count(await sim_stats(sim), "order/save") == saves
    # old finalized orders cannot be cancelled after 48 h: eMAG's refusal, nothing changed
    cutoff = datetime.now(UTC) - timedelta(days=3)
    old_finalized = next(
        o
        for o in stored.values()
        if o.status == 4
        and o.order_type == 3
        and o.emag_modified_at is not None
        and o.emag_modified_at < cutoff
    )
    before = snapshot(old_finalized)
    response = await api.post(
        f"/api/v1/emag/orders/{old_finalized.id}/status", json={"status": 0, "reason": 1}
    )
    refused(response, "after 48 hours")
    assert snapshot((await local_orders(ctx, accounts.main.id))[old_finalized.emag_id]) == before

    assert (await api.post("/api/v1/emag/orders/999999/acknowledge")).status_code == 404


async def test_viewers_cannot_write_and_writes_are_audited(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    (order,) = await new_orders(ctx, sim, accounts, 1)
    viewer = clients.viewer
    writes: list[tuple[str, dict[str, Any] | None]] = [
        (f"/api/v1/emag/orders/{order.id}/acknowledge", None),
        ("/api/v1/emag/orders/acknowledge", {"ids": [order.id]}),
        (f"/api/v1/emag/orders/{order.id}/status", {"status": 3}),
        (f"/api/v1/emag/orders/{order.id}/awb", {"sender": SENDER}),
        (f"/api/v1/emag/orders/{order.id}/attachments", {"url": "https://x/a.pdf", "name": "a"}),
        ("/api/v1/emag/returns/sync?account=main", None),
        ("/api/v1/emag/bulk/offers", {"items": [{"offer_id": 1, "account": "main", "stock": 1}]}),
        ("/api/v1/emag/offers/1/stock", {"stock": 3}),
        ("/api/v1/emag/bulk/operations/1/retry", None),
    ]
    for path, body in writes:
        response = await viewer.post(path, json=body)
        assert response.status_code == 403, (path, response.text)
    assert (await sim_order(sim, order.emag_id))["status"] == 1
    # viewers can read
    assert (
        await viewer.get("/api/v1/emag/courier-accounts", params={"account": "main"})
    ).status_code == 200

    api = clients.operator
    assert (
        await api.post(f"/api/v1/emag/orders/{order.id}/status", json={"status": 3})
    ).status_code == 422
    assert (await api.post(f"/api/v1/emag/orders/{order.id}/acknowledge")).status_code == 200

    assert (await api.get("/api/v1/audit")).status_code == 403
    assert (await viewer.get("/api/v1/audit")).status_code == 403
    log = (await clients.admin.get("/api/v1/audit", params={"account": "main"})).json()
    assert log["total"] == 2
    ack, save = log["items"]  # newest first
    assert ack["action"] == "orders.acknowledge" and ack["success"] is True
    assert ack["emag_route"] == f"order/acknowledge/{order.emag_id}"
    assert ack["user_email"] and ack["account_name"] == "main"
    assert save["action"] == "orders.status" and save["success"] is False
    assert save["emag_route"] == "order/save" and save["status_code"] == 200
    assert any("Status cannot be changed from 1 to 3" in m for m in save["messages"])
    sent = save["request"]["data"][0]
    assert sent["status"] == 3 and sent["id"] == order.emag_id
    assert set(order.raw) <= set(sent)  # the whole order as read
    assert "pw-m" not in str(log)
    only_failed = (await clients.admin.get("/api/v1/audit", params={"success": False})).json()
    assert only_failed["total"] == 1


async def test_awb_request_is_validated_locally(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    (order,) = await new_orders(ctx, sim, accounts, 1)
    api = clients.operator
    assert (await api.post(f"/api/v1/emag/orders/{order.id}/awb", json={})).status_code == 422
    bad = {"sender": SENDER, "parcel_number": 1000}
    assert (await api.post(f"/api/v1/emag/orders/{order.id}/awb", json=bad)).status_code == 422
