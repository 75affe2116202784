"""Bulk offer updates and the account's eMAG warehouse (issue 13, point 9), and a bulk operation
that eMAG refuses for the server's IP (point 10), against the simulator."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag.errors import IP_WHITELIST_HINT
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.settings import Settings
from tests.bulk.conftest import wait_done
from tests.conftest import Backend
from tests.orders.support import Clients, route_count, sim_offer, sim_stats, small_sim_config
from tests.support.simulation import Accounts, set_faults


@pytest.fixture
def settings(settings: Settings, backend: Backend) -> Settings:
    return settings.model_copy(update={"emag_rate_limit": False})


@pytest.fixture
def sim_config() -> SimConfig:
    config = small_sim_config(offers=60, orders=5)
    config.rate_limit = False
    return config


async def test_stock_is_written_to_the_accounts_warehouse(
    ctx: AppContext, sim: SimulatorServer, synced_offers: Accounts, clients: Clients
) -> None:
    """The light offer API's ``stock``/``handling_time`` lists name the account's warehouse, a
    setting that defaults to 1 (docs/emag-protocol.md, "Offers")."""
    admin = clients.admin
    before = {a["name"]: a["warehouse_id"] for a in (await admin.get("/api/v1/accounts")).json()}
    assert before == {"main": 1, "fbe": 1}
    path = "/api/v1/accounts/main/warehouse"
    for bad in (0, -1, "x", None):
        assert (await admin.put(path, json={"warehouse_id": bad})).status_code == 422
    assert (await clients.operator.put(path, json={"warehouse_id": 3})).status_code == 403
    assert (
        await admin.put("/api/v1/accounts/nobody/warehouse", json={"warehouse_id": 3})
    ).status_code == 404
    response = await admin.put(path, json={"warehouse_id": 3})
    assert response.status_code == 200, response.text
    assert response.json()["warehouse_id"] == 3

    body = {"items": [{"offer_id": 5, "account": "main", "stock": 9, "handling_time": 2}]}
    created = await clients.operator.post("/api/v1/emag/bulk/offers", json=body)
    assert created.status_code == 202, created.text
    op = await wait_done(clients.operator, created.json()["id"])
    assert op["succeeded_items"] == 1, op
    on_emag = await sim_offer(sim, 5)
    assert on_emag["stock"] == [{"warehouse_id": 3, "value": 9}]
    assert on_emag["handling_time"] == [{"warehouse_id": 3, "value": 2}]
    async with ctx.db.session() as session:
        local = (
            await session.execute(
                select(EmagOffer).where(
                    EmagOffer.account_id == synced_offers.main.id, EmagOffer.emag_id == 5
                )
            )
        ).scalar_one()
    assert local.stock == [{"warehouse_id": 3, "value": 9}] and local.stock_total == 9


async def test_an_ip_refusal_stops_a_bulk_operation_without_retrying(
    sim: SimulatorServer, synced_offers: Accounts, clients: Clients
) -> None:
    """eMAG's ``Invalid vendor ip`` (docs/emag-protocol.md, "Answers and errors") on the first
    chunk: one call, every item failed with eMAG's message and the hint, the rest not sent."""
    await set_faults(sim, vendor_ip_refused=[synced_offers.main.username])
    body = {"items": [{"offer_id": n, "account": "main", "stock": 4} for n in range(1, 61)]}
    created = await clients.operator.post("/api/v1/emag/bulk/offers", json=body)
    assert created.status_code == 202, created.text
    op = await wait_done(clients.operator, created.json()["id"])
    assert (op["failed_items"], op["succeeded_items"]) == (60, 0), op
    assert route_count(await sim_stats(sim), "offer/save") == 1
    items: list[dict[str, Any]] = (
        await clients.operator.get(
            f"/api/v1/emag/bulk/operations/{op['id']}/items", params={"limit": 100}
        )
    ).json()["items"]
    first, last = items[0]["messages"], items[-1]["messages"]
    assert any("Invalid vendor ip [127.0.0.1]" in m for m in first)
    assert IP_WHITELIST_HINT in first
    assert last[0].startswith("not sent: ") and "Invalid vendor ip" in last[0]
