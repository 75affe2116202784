"""The job's attachment (``InvoicingService.tick``): one ``order/attachments/save`` per invoice, no
re-read of the order. What eMAG receives, the audit entry, and the local copy of the order (its
other attachments kept, ours once, off the invoicing queue at once)."""

from __future__ import annotations

from sqlalchemy import select, update

from magflow.audit.models import AuditLog
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.invoicing.models import Invoice, InvoicingSettings
from magflow.invoicing.service import InvoicingService
from magflow.orders.models import EmagOrder
from tests.invoicing.support import SELLER, finalized_orders, invoice_attachments, invoices
from tests.orders.support import sim_control, sim_order
from tests.support.simulation import Accounts

BASE = "https://magflow.example/"
WARRANTY = {"name": "Garanție", "url": "https://shop.example/g.pdf", "type": 3}


async def _set_attachments(ctx: AppContext, order_id: int, attachments: list[dict]) -> None:
    async with ctx.db.session() as session:
        row = await session.get(EmagOrder, order_id)
        assert row is not None
        row.attachments = attachments
        await session.commit()


async def test_the_job_attaches_each_invoice_once_and_records_it(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    order, again = (await finalized_orders(ctx, sim, accounts))[:2]
    async with ctx.db.session() as session:
        settings = InvoicingSettings(
            account_id=accounts.main.id, provider="builtin", series="MFJ", **SELLER
        )
        session.add(settings)
        await session.commit()
    # ``again``: issued, its attachment accepted by eMAG (and read back by a sync) but not
    # recorded (the worker stopped): the job attaches it again, and the order holds it once
    issued = await InvoicingService(ctx).request(again.id)
    assert (issued.number, issued.failed_step) == ("000001", "attach")  # no address yet
    ours = f"{BASE}invoices/files/{issued.token}.pdf"
    async with ctx.db.session() as session:
        await session.execute(
            update(Invoice)
            .where(Invoice.id == issued.id)
            .values(state="issued", failed_step=None, message=None)
        )
        await session.execute(
            update(InvoicingSettings)
            .where(InvoicingSettings.id == settings.id)
            .values(public_base_url=BASE, trigger="finalized")
        )
        await session.commit()
    await _set_attachments(ctx, again.id, [WARRANTY, {"name": "F", "url": ours, "type": 1}])
    await _set_attachments(ctx, order.id, [WARRANTY])  # another document on the order

    await InvoicingService(ctx).tick()

    (invoice,) = [i for i in await invoices(ctx) if i.order_id == order.id]
    assert (invoice.state, invoice.failed_step, invoice.message) == ("attached", None, None)
    assert invoice.attached_at is not None
    url = f"https://magflow.example/invoices/files/{invoice.token}.pdf"
    sent = {"name": f"Factura MFJ{invoice.number}", "url": url, "type": 1}
    (remote,) = invoice_attachments(await sim_order(sim, order.emag_id))
    assert {k: remote[k] for k in sent} == sent and remote["force_download"] == 0
    async with ctx.db.session() as session:
        stored = await session.get(EmagOrder, order.id)
        assert stored is not None and stored.has_invoice is True
        assert stored.attachments is not None
        assert stored.attachments[0] == WARRANTY
        (local,) = [a for a in stored.attachments if a.get("url") == url]
        assert {k: local[k] for k in sent} == sent
        assert (local["order_id"], local["visibility"]) == (order.emag_id, 1)
        (entry,) = (
            await session.execute(
                select(AuditLog).where(
                    AuditLog.action == "orders.attachment",
                    AuditLog.target == f"order:{order.emag_id}",
                )
            )
        ).scalars()
        other = await session.get(EmagOrder, again.id)
        assert other is not None and other.attachments is not None
        assert [a["url"] for a in other.attachments] == [WARRANTY["url"], ours]
    assert (entry.emag_route, entry.success, entry.account_id, entry.account_name) == (
        "order/attachments/save",
        True,
        accounts.main.id,
        accounts.main.name,
    )
    assert url in str(entry.request["data"])
    assert {i.order_id: i.state for i in await invoices(ctx)}[again.id] == "attached"


async def test_an_operators_invoice_shows_emags_own_view_of_the_order(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """Issued on an operator's request, the order is read again from eMAG after the attachment:
    the order page shows what eMAG holds (here a document attached on eMAG since the last
    sync), not only what MagFlow sent."""
    order = (await finalized_orders(ctx, sim, accounts))[0]
    await sim_control(
        sim,
        "POST",
        f"/_sim/accounts/main/orders/{order.emag_id}/edit",
        json={"attachments": [WARRANTY]},
    )
    async with ctx.db.session() as session:
        session.add(
            InvoicingSettings(
                account_id=accounts.main.id, provider="builtin", public_base_url=BASE, **SELLER
            )
        )
        await session.commit()
    invoice = await InvoicingService(ctx).request(order.id)
    assert invoice.state == "attached"
    async with ctx.db.session() as session:
        stored = await session.get(EmagOrder, order.id)
        assert stored is not None and stored.attachments is not None
        urls = {a.get("url") for a in stored.attachments}
    assert urls == {WARRANTY["url"], f"{BASE}invoices/files/{invoice.token}.pdf"}
