"""The invoicing job against two rules of real eMAG (issue 13): FBE orders (type 2) still take
invoice attachments (point 4), from an operator's click and from the job; and eMAG's refusal of the
server's IP (``ERROR: Invalid vendor ip [...]``, docs/emag-protocol.md, "Answers and errors") fails
the account's invoices of the tick after one call, with what to do, and nothing is retried
(point 10)."""

from __future__ import annotations

from magflow.context import AppContext
from magflow.emag.errors import IP_WHITELIST_HINT
from magflow.emag_sim import SimulatorServer
from magflow.invoicing.models import Invoice
from magflow.invoicing.service import InvoicingService
from tests.intake.support import eventually
from tests.invoicing.support import configure, finalized_orders, invoice_attachments, invoices
from tests.orders.support import Clients, route_count, sim_order, sim_stats
from tests.support.simulation import Accounts, set_faults


async def test_fbe_orders_take_invoices_from_a_click_and_from_the_job(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await configure(clients, "fbe", api)
    fbe = [o for o in await finalized_orders(ctx, sim, accounts, "fbe") if o.order_type == 2][:2]
    assert len(fbe) == 2, "the simulator's FBE account has finalized FBE orders"
    clicked = await clients.operator.post(f"/api/v1/invoicing/orders/{fbe[0].id}/invoice")
    assert clicked.status_code == 200 and clicked.json()["state"] == "attached", clicked.text
    await configure(clients, "fbe", api, trigger="finalized")
    await InvoicingService(ctx).tick()

    async def attached() -> bool:  # the API process's timer may hold the invoice a moment
        return {i.order_id: i.state for i in await invoices(ctx)}.get(fbe[1].id) == "attached"

    await eventually(attached)
    for order in fbe:
        remote = invoice_attachments(await sim_order(sim, order.emag_id, "fbe"))
        assert sum(a["url"].startswith(api) for a in remote) == 1


async def test_an_ip_refusal_fails_the_ticks_invoices_after_one_call_and_is_not_retried(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    orders = await finalized_orders(ctx, sim, accounts)
    assert len(orders) >= 2
    await configure(clients, "main", api, trigger="finalized")
    await set_faults(sim, vendor_ip_refused=[accounts.main.username])
    before = route_count(await sim_stats(sim), "order/attachments/save")

    await InvoicingService(ctx).tick()

    async def all_failed() -> list[Invoice]:  # the API process's timer may hold some a moment
        rows = await invoices(ctx)
        return rows if len(rows) == len(orders) and all(r.state == "failed" for r in rows) else []

    rows = await eventually(all_failed)
    assert {(r.state, r.failed_step) for r in rows} == {("failed", "attach")}
    assert all("Invalid vendor ip [127.0.0.1]" in (r.message or "") for r in rows)
    assert all(IP_WHITELIST_HINT in (r.message or "") for r in rows)
    # One call per tick: this one's, and perhaps the API process's own timer's tick running at
    # the same moment (each works the invoices it leases); the others are not sent.
    sent = route_count(await sim_stats(sim), "order/attachments/save") - before
    refused = [r for r in rows if not (r.message or "").startswith("not sent: ")]
    assert 1 <= sent <= 2 and 1 <= len(refused) <= sent < len(rows)

    await InvoicingService(ctx).tick()  # the next tick: a failed invoice waits for a person
    assert route_count(await sim_stats(sim), "order/attachments/save") - before <= 2
