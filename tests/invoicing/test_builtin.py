"""The built-in provider end to end: issue, PDF at an unguessable URL, attach on eMAG (the
simulator), retries and bad input — through the HTTP API."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from magflow.audit.models import AuditLog
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.orders.models import EmagOrder
from tests.invoicing.support import configure, finalized_orders, invoice_attachments, invoices
from tests.orders.support import Clients, sim_order
from tests.support.simulation import Accounts, set_faults


async def test_an_order_gets_one_invoice_issued_served_and_attached_once(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await configure(clients, "main", api)
    orders = await finalized_orders(ctx, sim, accounts)
    order = next(o for o in orders if not (o.customer or {}).get("legal_entity"))
    first = await clients.operator.post(f"/api/v1/invoicing/orders/{order.id}/invoice")
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["state"], body["series"], body["number"]) == ("attached", "MFT", "000001")
    # a second click, a retry: the same invoice, nothing issued again
    again = await clients.operator.post(f"/api/v1/invoicing/orders/{order.id}/invoice")
    assert again.json()["id"] == body["id"] and again.json()["number"] == "000001"
    assert len(await invoices(ctx)) == 1
    remote = invoice_attachments(await sim_order(sim, order.emag_id))
    ours = [a for a in remote if a["url"].startswith(api)]
    assert len(ours) == 1 and ours[0]["name"] == "Factura MFT000001"
    # eMAG downloads the PDF from the URL without logging in; a guessed token finds nothing
    async with httpx.AsyncClient() as anonymous:
        pdf = await anonymous.get(ours[0]["url"])
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-type"] == "application/pdf"
        guessed = await anonymous.get(f"{api}/invoices/files/{'A' * 43}.pdf")
        assert guessed.status_code == 404
    xml = await clients.operator.get(f"/api/v1/invoicing/invoices/{body['id']}/xml")
    assert "urn:efactura.mfinante.ro:CIUS-RO:1.0.1" in xml.text
    assert "<cbc:ID>MFT000001</cbc:ID>" in xml.text
    async with ctx.db.session() as session:
        actions = [a.action for a in (await session.execute(select(AuditLog))).scalars()]
    assert actions.count("invoicing.issue") == 1
    assert actions.count("orders.attachment") == 1
    listing = await clients.viewer.get("/api/v1/invoicing/orders/" + str(order.id))
    assert [i["state"] for i in listing.json()] == ["attached"]
    # an invoice by URL on top of MagFlow's would be a second one on eMAG: refused, nothing sent
    second = await clients.operator.post(
        f"/api/v1/emag/orders/{order.id}/attachments",
        json={"url": "https://billing.example/f/99.pdf", "name": "Factura EXT99"},
    )
    assert second.status_code == 422 and "one invoice per order" in second.text, second.text
    assert "MFT000001" in second.text
    # two operators clicking at once on another order: one invoice, one number
    other = next(o for o in orders if o.id != order.id)
    path = f"/api/v1/invoicing/orders/{other.id}/invoice"
    both = await asyncio.gather(clients.operator.post(path), clients.admin.post(path))
    assert {r.json()["id"] for r in both} == {both[0].json()["id"]}
    (row,) = [i for i in await invoices(ctx) if i.order_id == other.id]
    assert (row.state, row.number) == ("attached", "000002")


async def _set_customer(ctx: AppContext, order_id: int, **changes: object) -> None:
    async with ctx.db.session() as session:
        order = await session.get(EmagOrder, order_id)
        assert order is not None
        order.customer = {**(order.customer or {}), **changes} if changes else {}
        await session.commit()


async def test_bad_input_is_a_clear_state_and_nothing_is_issued(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await configure(clients, "main", api)
    no_billing, bad_cui, good = (await finalized_orders(ctx, sim, accounts))[:3]
    await _set_customer(ctx, no_billing.id)
    await _set_customer(ctx, bad_cui.id, legal_entity=1, code="RO18547291", company="X SRL")
    answer = await clients.operator.post(f"/api/v1/invoicing/orders/{no_billing.id}/invoice")
    assert answer.json()["state"] == "failed" and answer.json()["failed_step"] == "document"
    assert "no billing data" in answer.json()["message"]
    answer = await clients.operator.post(f"/api/v1/invoicing/orders/{bad_cui.id}/invoice")
    assert "CUI 'RO18547291' is invalid" in answer.json()["message"]
    # nothing numbered for them: the next good order takes number 1
    answer = await clients.operator.post(f"/api/v1/invoicing/orders/{good.id}/invoice")
    assert answer.json()["number"] == "000001"
    # fixed data, retried: the same row moves on with the next number
    await _set_customer(ctx, bad_cui.id, code="RO18547290")
    answer = await clients.operator.post(f"/api/v1/invoicing/orders/{bad_cui.id}/invoice")
    assert (answer.json()["state"], answer.json()["number"]) == ("attached", "000002")
    # settings refused with a clear message
    refused = await clients.admin.put(
        "/api/v1/invoicing/settings",
        params={"account": "main"},
        json={"series": "X", "seller_name": "A", "seller_cui": "RO18547291"},
    )
    assert refused.status_code == 422 and "check digit" in refused.text
    queue = await clients.viewer.get("/api/v1/invoicing/queue", params={"account": "main"})
    queued = {i["order_id"]: i["invoice"] for i in queue.json()["items"]}
    assert queued[no_billing.id]["state"] == "failed" and good.id not in queued


async def test_emag_refusing_the_attachment_is_shown_and_a_retry_only_attaches(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await configure(clients, "main", api)
    order = (await finalized_orders(ctx, sim, accounts))[0]
    await set_faults(sim, is_error=1.0, routes=["order/attachments"])
    path = f"/api/v1/invoicing/orders/{order.id}/invoice"
    refused = (await clients.operator.post(path)).json()
    assert (refused["state"], refused["failed_step"], refused["number"]) == (
        "failed",
        "attach",
        "000001",
    )
    assert refused["message"].startswith("eMAG: An error occurred")
    await set_faults(sim)
    retried = (await clients.operator.post(path)).json()
    assert (retried["state"], retried["number"], retried["id"]) == (
        "attached",
        "000001",
        refused["id"],
    )
    remote = invoice_attachments(await sim_order(sim, order.emag_id))
    assert sum(a["url"].startswith(api) for a in remote) == 1
