"""Credit notes: one per order, whether the order was returned (the job finds it) or an
operator asks for a partial storno; never two."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from magflow.audit.models import AuditLog
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.invoicing.service import InvoicingService
from magflow.orders.mapping import order_totals
from magflow.orders.models import EmagOrder
from tests.invoicing.support import (
    configure,
    finalized_orders,
    invoice_attachments,
    invoiced_elsewhere,
    invoices,
)
from tests.orders.support import Clients, sim_order
from tests.support.simulation import Accounts


async def test_a_returned_order_gets_one_credit_note_and_a_partial_storno_reverses_its_lines(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await configure(clients, "main", api, credit_series="MFS")
    finalized = await finalized_orders(ctx, sim, accounts)
    returned, partial = finalized[:2]
    # an order of several lines, stornoed on eMAG (status stays 4, a line removed)
    stornoed = next(o for o in finalized[2:] if len(o.products or []) > 1)
    for order in (returned, partial, stornoed):
        answer = await clients.operator.post(f"/api/v1/invoicing/orders/{order.id}/invoice")
        assert answer.json()["state"] == "attached", answer.text
    # the next sync says the first order was returned (status 5)
    async with ctx.db.session() as session:
        row = await session.get(EmagOrder, returned.id)
        assert row is not None
        row.status = 5
        storno = await session.get(EmagOrder, stornoed.id)
        assert storno is not None
        raw = dict(storno.raw)
        raw["products"] = [{**raw["products"][0], "status": 0}, *raw["products"][1:]]
        raw["is_storno"] = True
        storno.raw = raw
        storno.products = raw["products"]
        storno.total_without_vat, storno.total_with_vat = order_totals(raw)
        await session.commit()
    # the trigger on: the job reverses what was invoiced (the other orders have an invoice from
    # elsewhere: MagFlow issues none for them)
    mine = (returned.id, partial.id, stornoed.id)
    await invoiced_elsewhere(ctx, [o.id for o in finalized if o.id not in mine])
    await configure(clients, "main", api, credit_series="MFS", trigger="finalized")
    service = InvoicingService(ctx)
    await service.tick()
    await service.tick()  # a repeated tick, a repeated callback: nothing new
    notes = [i for i in await invoices(ctx) if i.kind == "credit_note"]
    assert sorted((n.order_id, n.state, n.series) for n in notes) == sorted(
        [(returned.id, "attached", "MFS"), (stornoed.id, "attached", "MFS")]
    )
    (partial_note,) = [n for n in notes if n.order_id == stornoed.id]
    assert partial_note.document is not None
    removed = stornoed.raw["products"][0]
    assert next((x["kind"], x["quantity"]) for x in partial_note.document["lines"]) == (
        "product",
        str(-int(removed["quantity"])),
    )
    notes = [n for n in notes if n.order_id == returned.id]
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
    # the audit log: one reversal per credit note, each attachment recorded
    async with ctx.db.session() as session:
        actions = Counter((await session.execute(select(AuditLog.action))).scalars())
    assert (actions["invoicing.issue"], actions["invoicing.reverse"]) == (3, 3)
    assert actions["orders.attachment"] == 6
