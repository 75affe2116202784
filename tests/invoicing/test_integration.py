"""Invoicing with the rest of MagFlow: the triggers on FBE orders and on AWBs however issued, an
invoice attached by URL (issued elsewhere) counting as the order's invoice, and the queue agreeing
with the to-do list."""

from __future__ import annotations

import httpx
from sqlalchemy import select, update

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.invoicing.models import Trigger
from magflow.invoicing.repository import orders_to_invoice
from magflow.invoicing.service import InvoicingService
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.invoicing.support import (
    configure,
    finalized_orders,
    invoice_attachments,
    invoiced_elsewhere,
    invoices,
)
from tests.orders.support import Clients, sim_order
from tests.support.simulation import Accounts, sync

CSRF = {"X-MagFlow-CSRF": "1"}


async def _orders(ctx: AppContext, account_id: int) -> list[EmagOrder]:
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(EmagOrder).where(EmagOrder.account_id == account_id).order_by(EmagOrder.id)
        )
        return list(rows.scalars())


async def _missing(clients: Clients, account: str) -> tuple[set[int], set[int]]:
    """(the invoicing queue's orders, the to-do list's invoice_missing orders)."""
    queue = await clients.viewer.get(
        "/api/v1/invoicing/queue", params={"account": account, "limit": 500}
    )
    todo = await clients.viewer.get(
        "/api/v1/todo", params={"account": account, "kind": "invoice_missing", "limit": 500}
    )
    assert queue.status_code == todo.status_code == 200, (queue.text, todo.text)
    return (
        {i["order_id"] for i in queue.json()["items"]},
        {i["order_id"] for i in todo.json()["items"]},
    )


async def test_triggers_reach_fbe_orders_and_awbs_however_issued_and_agree_with_the_todo(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await configure(clients, "main", api, trigger="awb")
    await configure(clients, "fbe", api, trigger="finalized", series="MFB")
    await sync(ctx, accounts.main, SyncKind.orders)
    await sync(ctx, accounts.fbe, SyncKind.orders)
    main = await _orders(ctx, accounts.main.id)
    fbe = await _orders(ctx, accounts.fbe.id)
    # main: an order in progress whose AWB MagFlow issued, eMAG answering with the reservation
    # alone (docs/emag-protocol.md, "AWBs and couriers"), and one without an AWB
    reserved = next(o for o in main if o.status in (2, 3) and o.order_type == 3)
    untouched = next(o for o in main if o.status in (1, 2, 3) and o.id != reserved.id)
    async with ctx.db.session() as session:
        await session.execute(
            update(EmagOrder).where(EmagOrder.id == reserved.id).values(awb_reservation_id=4242)
        )
        await session.commit()
    # one finalized order per account left without an invoice on eMAG (an AWB issued
    # elsewhere shows as status 4 alone); the others already have one, attached elsewhere
    shipped = next(o for o in main if o.status == 4 and not o.has_invoice)
    fbe_order = next(o for o in fbe if o.status == 4 and o.order_type == 2 and not o.has_invoice)
    await invoiced_elsewhere(
        ctx, [o.id for o in main + fbe if o.status == 4 and o.id not in (shipped.id, fbe_order.id)]
    )
    queue, todo = await _missing(clients, "fbe")
    assert queue == todo == {fbe_order.id}
    service = InvoicingService(ctx)
    await service.tick()
    await service.tick()  # a repeated tick: nothing new
    rows = {i.order_id: i for i in await invoices(ctx)}
    assert set(rows) == {reserved.id, shipped.id, fbe_order.id}
    assert {i.state for i in rows.values()} == {"attached"}
    assert rows[fbe_order.id].series == "MFB"
    remote = invoice_attachments(await sim_order(sim, fbe_order.emag_id, "fbe"))
    assert [a["name"] for a in remote] == [f"Factura MFB{rows[fbe_order.id].number}"]
    # attached by the job: off the queue and the to-do list alike
    for account in ("main", "fbe"):
        queue, todo = await _missing(clients, account)
        assert queue == todo and shipped.id not in queue and fbe_order.id not in queue
    assert untouched.id not in rows


def _form(text: str, testid: str) -> bool:
    return f'data-testid="{testid}"' in text


async def test_an_invoice_attached_by_url_is_the_orders_invoice(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    # The trigger stays off: with it on, the API's job timer (every 5 s) could issue the order's
    # invoice before the operator attaches one by URL (a race on a slow machine); what the
    # trigger would pick is asserted through ``orders_to_invoice`` below.
    await configure(clients, "main", api)
    order, other = (await finalized_orders(ctx, sim, accounts))[:2]
    operator = await make_user(ctx, role=Role.operator)
    async with httpx.AsyncClient(base_url=api, follow_redirects=False, timeout=60) as web:
        login = await web.post(
            "/login", data={"email": operator.email, "password": DEFAULT_PASSWORD}
        )
        assert login.status_code == 303
        block = (await web.get(f"/orders/{order.id}/invoicing")).text
        assert _form(block, "invoice-issue") and _form(block, "invoice-attach-url")
        assert "Attach an invoice issued elsewhere" in block
        # eMAG refuses what is not a PDF, with its own message
        refused = await web.post(
            f"/orders/{order.id}/invoice",
            data={"url": "https://billing.example/f/77.docx", "name": "Invoice"},
            headers=CSRF,
        )
        assert "Only PDF attachments are accepted" in refused.text
        attached = await web.post(
            f"/orders/{order.id}/invoice",
            data={"url": "https://billing.example/f/77.pdf", "name": "Factura EXT77"},
            headers=CSRF,
        )
        assert "Invoice attached." in attached.text, attached.text
        block = (await web.get(f"/orders/{order.id}/invoicing")).text
        assert _form(block, "invoice-elsewhere") and "Factura EXT77" in block
        assert not _form(block, "invoice-issue")
    # MagFlow issues none for it, asked or by its trigger; the queue and the to-do agree
    answer = await clients.operator.post(f"/api/v1/invoicing/orders/{order.id}/invoice")
    assert answer.status_code == 422 and "issued elsewhere" in answer.text
    async with ctx.db.session() as session:
        due = await orders_to_invoice(session, accounts.main.id, Trigger.finalized, 500)
    assert order.id not in {o.id for o in due} and other.id in {o.id for o in due}
    queue, todo = await _missing(clients, "main")
    assert queue == todo and order.id not in queue and other.id in queue
    # a first attempt failed (no billing data); meanwhile an invoice is attached elsewhere:
    # the retry issues nothing and says why
    async with ctx.db.session() as session:
        row = await session.get(EmagOrder, other.id)
        assert row is not None
        customer = row.customer
        row.customer = {}
        await session.commit()
    path = f"/api/v1/invoicing/orders/{other.id}/invoice"
    assert (await clients.operator.post(path)).json()["failed_step"] == "document"
    by_url = await clients.operator.post(
        f"/api/v1/emag/orders/{other.id}/attachments",
        json={"url": "https://billing.example/f/78.pdf", "name": "Factura EXT78"},
    )
    assert by_url.status_code == 200, by_url.text
    async with ctx.db.session() as session:
        row = await session.get(EmagOrder, other.id)
        assert row is not None
        row.customer = customer
        await session.commit()
    retried = (await clients.operator.post(path)).json()
    assert (retried["state"], retried["number"]) == ("failed", None)
    assert "issued elsewhere" in retried["message"]
    queue, todo = await _missing(clients, "main")
    assert queue == todo and other.id not in queue
    remote = invoice_attachments(await sim_order(sim, order.emag_id))
    assert [a["url"] for a in remote] == ["https://billing.example/f/77.pdf"]
