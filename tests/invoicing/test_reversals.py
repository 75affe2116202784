"""Credit notes: one per order, whether the order was returned (the job finds it) or an
operator asks for a partial storno; never two."""

from __future__ import annotations

from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.invoicing.service import InvoicingService
from magflow.orders.models import EmagOrder
from tests.invoicing.support import configure, finalized_orders, invoice_attachments, invoices
from tests.orders.support import Clients, sim_order
from tests.support.simulation import Accounts


async def test_a_returned_order_gets_one_credit_note_and_a_partial_storno_reverses_its_lines(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await configure(clients, "main", api, credit_series="MFS")
    returned, partial = (await finalized_orders(ctx, accounts))[:2]
    for order in (returned, partial):
        answer = await clients.operator.post(f"/api/v1/invoicing/orders/{order.id}/invoice")
        assert answer.json()["state"] == "attached", answer.text
    # the next sync says the first order was returned (status 5)
    async with ctx.db.session() as session:
        row = await session.get(EmagOrder, returned.id)
        assert row is not None
        row.status = 5
        await session.commit()
    # "awb": the job reverses what was invoiced; orders without an AWB are left alone
    await configure(clients, "main", api, credit_series="MFS", trigger="awb")
    service = InvoicingService(ctx)
    await service.tick()
    await service.tick()  # a repeated tick, a repeated callback: nothing new
    notes = [i for i in await invoices(ctx) if i.kind == "credit_note"]
    assert [(n.order_id, n.state, n.series) for n in notes] == [(returned.id, "attached", "MFS")]
    (invoice,) = [
        i for i in await invoices(ctx) if i.order_id == returned.id and i.kind == "invoice"
    ]
    assert notes[0].document is not None and invoice.document is not None
    assert notes[0].document["totals"]["gross"] == "-" + invoice.document["totals"]["gross"]
    assert notes[0].document["reverses"]["number"] == invoice.number
    remote = invoice_attachments(await sim_order(sim, returned.emag_id))
    assert sum(a["name"].startswith("Factura storno") for a in remote) == 1
    # a partial storno of one unit of the second order's first line, asked twice
    for _ in range(2):
        answer = await clients.operator.post(
            f"/api/v1/invoicing/orders/{partial.id}/credit-note",
            json={"lines": [{"index": 0, "quantity": 1}]},
        )
        assert answer.status_code == 200, answer.text
    note = answer.json()
    assert note["state"] == "attached" and note["kind"] == "credit_note"
    assert (
        sum(i.kind == "credit_note" and i.order_id == partial.id for i in await invoices(ctx)) == 1
    )
