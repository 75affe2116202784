"""The dashboard: an order's invoice block with its Issue button, the invoices page (the queue of
orders missing an invoice) and the export per period."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.invoicing.support import configure, finalized_orders
from tests.orders.support import Clients
from tests.support.simulation import Accounts

CSRF = {"X-MagFlow-CSRF": "1"}


async def test_invoice_block_queue_and_export(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await configure(clients, "main", api)
    order = (await finalized_orders(ctx, sim, accounts))[0]
    operator = await make_user(ctx, role=Role.operator)
    async with httpx.AsyncClient(base_url=api, follow_redirects=False, timeout=60) as web:
        login = await web.post(
            "/login", data={"email": operator.email, "password": DEFAULT_PASSWORD}
        )
        assert login.status_code == 303
        page = await web.get("/invoicing")
        assert page.status_code == 200 and f">{order.emag_id}</a>" in page.text
        block = await web.get(f"/orders/{order.id}/invoicing")
        assert "No invoice yet" in block.text and 'data-testid="invoice-issue"' in block.text
        assert (await web.post(f"/orders/{order.id}/invoicing/issue")).status_code == 403
        issued = await web.post(f"/orders/{order.id}/invoicing/issue", headers=CSRF)
        assert (
            "MFT000001 attached." in issued.text and 'data-testid="invoice-reverse"' in issued.text
        )
        page = await web.get("/invoicing")
        assert f">{order.emag_id}</a></td><td>" not in page.text.split("Recent invoices")[0]
        today = datetime.now(ZoneInfo("Europe/Bucharest")).date().isoformat()  # Romania's day
        csv = await web.get(
            "/invoicing/export", params={"date_from": "2020-01-01", "date_to": today}
        )
        assert csv.headers["content-type"].startswith("text/csv")
        assert "MFT,000001" in csv.text and str(order.emag_id) in csv.text
