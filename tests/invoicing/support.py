"""Helpers of the invoicing tests: settings through the API, finalized orders from the simulator."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update

from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.invoicing.models import Invoice
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from tests.orders.support import Clients, sim_control
from tests.support.simulation import Accounts, sync

EMPTY = {"attachments": []}
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


async def _finalized(ctx: AppContext, account_id: int) -> list[EmagOrder]:
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(EmagOrder)
            .where(EmagOrder.account_id == account_id, EmagOrder.status == 4)
            .order_by(EmagOrder.emag_id)
        )
        return list(rows.scalars())


async def finalized_orders(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, name: str = "main"
) -> list[EmagOrder]:
    """The account's (``main`` or ``fbe``) finalized orders (status 4), synced from the
    simulator's seeded data, without an invoice on eMAG: the seed attaches one (issued
    elsewhere) to most finalized orders, and MagFlow issues none for those (one invoice per
    order), so they are taken off on eMAG's side and in the stored copy (as the next sync
    would) first."""
    account = getattr(accounts, name)
    await sync(ctx, account, SyncKind.orders)
    invoiced = [o for o in await _finalized(ctx, account.id) if o.has_invoice]
    await asyncio.gather(
        *(
            sim_control(sim, "POST", f"/_sim/accounts/{name}/orders/{o.emag_id}/edit", json=EMPTY)
            for o in invoiced
        )
    )
    async with ctx.db.session() as session:
        for order in invoiced:
            row = await session.get(EmagOrder, order.id)
            assert row is not None
            row.attachments, row.has_invoice = [], False
            row.raw = {**row.raw, "attachments": []}
        await session.commit()
    return await _finalized(ctx, account.id)


async def invoiced_elsewhere(ctx: AppContext, ids: list[int]) -> None:
    """As the sync stores orders whose attachments hold an invoice (``has_invoice``)."""
    async with ctx.db.session() as session:
        await session.execute(
            update(EmagOrder).where(EmagOrder.id.in_(ids)).values(has_invoice=True)
        )
        await session.commit()


async def invoices(ctx: AppContext) -> list[Invoice]:
    async with ctx.db.session() as session:
        return list((await session.execute(select(Invoice).order_by(Invoice.id))).scalars())


def invoice_attachments(order: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in order.get("attachments") or [] if a.get("type") == 1]
