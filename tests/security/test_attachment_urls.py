"""Attachment URLs forwarded to eMAG (and from there to the customer) must be https."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from magflow.context import AppContext
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from tests.orders.support import Clients, clients, sim_order, small_sim_config
from tests.support.simulation import Accounts, sync

__all__ = ["clients"]

HOSTILE = [
    "javascript:alert(document.cookie)//x.pdf",
    "http://files.example.com/invoice.pdf",
    "file:///etc/passwd",
    "data:application/pdf;base64,JVBERi0=",
    "ftp://files.example.com/invoice.pdf",
    "https:///no-host.pdf",
    "//files.example.com/invoice.pdf",
]


@pytest.fixture
def sim_config() -> SimConfig:
    return small_sim_config(offers=5, orders=10)


async def test_only_https_attachment_urls_reach_emag(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await sync(ctx, accounts.main, SyncKind.orders)
    async with ctx.db.session() as session:
        order = (
            await session.execute(
                select(EmagOrder).where(EmagOrder.account_id == accounts.main.id).limit(1)
            )
        ).scalar_one()
    for url in HOSTILE:
        response = await clients.operator.post(
            f"/api/v1/emag/orders/{order.id}/attachments", json={"url": url, "name": "Factura"}
        )
        assert response.status_code == 422, url
        assert "https://" in response.text
    sent = [a["url"] for a in (await sim_order(sim, order.emag_id)).get("attachments") or []]
    assert not set(HOSTILE) & set(sent)
    good = "https://files.example.com/invoice.pdf"
    response = await clients.operator.post(
        f"/api/v1/emag/orders/{order.id}/attachments", json={"url": good, "name": "Factura"}
    )
    assert response.status_code == 200, response.text
