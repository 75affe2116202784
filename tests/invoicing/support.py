"""Helpers of the invoicing tests: settings through the API, finalized orders from the simulator."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from magflow.context import AppContext
from magflow.invoicing.models import Invoice
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from tests.orders.support import Clients
from tests.support.simulation import Accounts, sync

SELLER = {
    "seller_name": "Magazinul Ăștia Țară SRL",
    "seller_cui": "RO18547290",
    "seller_reg_no": "J40/1234/2020",
    "seller_address": "Str. Șoseaua Iancului nr. 3",
    "seller_city": "București",
    "seller_county": "Sector 2",
}


async def configure(clients: Clients, account: str, api: str, **changes: Any) -> dict[str, Any]:
    body = {"provider": "builtin", "series": "MFT", "public_base_url": api, **SELLER, **changes}
    response = await clients.admin.put(
        "/api/v1/invoicing/settings", params={"account": account}, json=body
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def finalized_orders(ctx: AppContext, accounts: Accounts) -> list[EmagOrder]:
    """The main account's finalized orders (status 4), synced from the simulator's seeded data."""
    await sync(ctx, accounts.main, SyncKind.orders)
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(EmagOrder)
            .where(EmagOrder.account_id == accounts.main.id, EmagOrder.status == 4)
            .order_by(EmagOrder.emag_id)
        )
        return list(rows.scalars())


async def invoices(ctx: AppContext) -> list[Invoice]:
    async with ctx.db.session() as session:
        return list((await session.execute(select(Invoice).order_by(Invoice.id))).scalars())


def invoice_attachments(order: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in order.get("attachments") or [] if a.get("type") == 1]
