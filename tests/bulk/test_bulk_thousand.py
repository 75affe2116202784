"""Bulk offer updates against the simulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from magflow.context import AppContext
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.sync.models import SyncKind
from tests.bulk.conftest import wait_done
from tests.bulk.test_bulk import all_items, local_offers
from tests.orders.support import (
    Clients,
    sim_control,
    sim_offer,
    small_sim_config,
)
from tests.support.simulation import Accounts, sync

# 1,000 items at eMAG's pace: the client's limiter spaces offer/save at 3 req/s per account.


@pytest.fixture
def sim_config() -> SimConfig:
    return small_sim_config(offers=1010, orders=5)


@pytest.fixture
async def synced_offers(
    accounts: Accounts, sim: SimulatorServer, make_ctx: Callable[..., AppContext]
) -> Accounts:
    """The offers, read with both limits off (the reading is not under test), then the
    simulator's limit back on for the bulk update."""
    await sim_control(sim, "POST", "/_sim/rate_limit", json={"enabled": False})
    run = await sync(make_ctx(emag_rate_limit=False), accounts.main, SyncKind.offers)
    assert run.status == "completed", run.errors
    await sim_control(sim, "POST", "/_sim/rate_limit", json={"enabled": True})
    return accounts


@pytest.mark.slow
async def test_thousand_items_with_local_and_emag_refusals(
    ctx: AppContext, sim: SimulatorServer, synced_offers: Accounts, clients: Clients
) -> None:
    api = clients.operator
    buffer = await clients.admin.put(
        "/api/v1/emag/bulk/stock-buffer", json={"account": "main", "stock_buffer": 3}
    )
    assert buffer.status_code == 200, buffer.text
    offers = await local_offers(ctx, synced_offers.main.id)
    items: list[dict[str, Any]] = []
    expected: dict[int, str] = {}
    for i in range(1000):
        emag_id = i + 1
        offer = offers[emag_id]
        item: dict[str, Any] = {"offer_id": emag_id, "stock": i % 40}
        kind = i % 50
        if kind == 1:
            item["stock"] = -1
        elif kind == 2:
            item["stock"] = 2.5
        elif kind == 3:
            item["offer_id"] = 900_000 + i  # not stored locally
        elif kind == 4:
            assert offer.max_sale_price is not None
            item["sale_price"] = str(offer.max_sale_price + 1)
        elif kind == 5:
            item["vat_id"] = 999  # unknown to eMAG: refused there
        elif kind == 6:
            item["sale_price"] = str(offer.min_sale_price)
            item["recommended_price"] = str((offer.min_sale_price or 0) * 2)
        expected[i] = {1: "invalid", 2: "invalid", 3: "invalid", 4: "invalid", 5: "failed"}.get(
            kind, "succeeded"
        )
        items.append(item)

    response = await api.post("/api/v1/emag/bulk/offers", json={"account": "main", "items": items})
    assert response.status_code == 202, response.text
    op = await wait_done(api, response.json()["id"])
    assert op["status"] == "completed_with_errors"
    assert op["total_items"] == 1000
    assert (op["invalid_items"], op["failed_items"], op["succeeded_items"]) == (80, 20, 900)
    assert op["pending_items"] == 0 and op["processed_items"] == 1000
    assert op["requests_sent"] == 19  # 920 valid items in chunks of 50

    got = await all_items(api, op["id"])
    got += await all_items(api, op["id"], skip=1000)
    assert {i["position"]: i["status"] for i in got} == expected
    by_position = {i["position"]: i for i in got}
    assert "stock should be 0 or more" in by_position[1]["messages"][0]
    assert "whole number" in by_position[2]["messages"][0]
    assert "does not exist locally" in by_position[3]["messages"][0]
    assert "greater than max_sale_price" in by_position[4]["messages"][0]
    assert by_position[5]["messages"] == ["vat_id 999 does not exist"]  # eMAG's own message
    assert by_position[7]["messages"] == ["Offer 8 updated successfully"]
    failed = await all_items(api, op["id"], status="failed")
    assert len(failed) == 20 and all(i["attempts"] == 1 for i in failed)

    # eMAG has what was accepted (stock minus the buffer of 3); local offers follow, only those
    after = await local_offers(ctx, synced_offers.main.id)
    for position in (0, 6, 7, 49, 999):
        emag_id = position + 1
        published = max(0, position % 40 - 3)
        assert by_position[position]["payload"]["stock"] == [
            {"warehouse_id": 1, "value": published}
        ]
        assert (await sim_offer(sim, emag_id))["general_stock"] == published
        assert after[emag_id].stock_total == published
    assert after[7].sale_price == offers[7].min_sale_price
    for position in (5, 55, 1, 4):  # refused by eMAG or invalid: untouched everywhere
        emag_id = position + 1
        assert after[emag_id].stock_total == offers[emag_id].stock_total
        assert after[emag_id].sale_price == offers[emag_id].sale_price
        assert (await sim_offer(sim, emag_id))["general_stock"] == offers[emag_id].general_stock

    # one audit row per request sent, with eMAG's answers
    audit = (
        await clients.admin.get(
            "/api/v1/audit", params={"bulk_operation_id": op["id"], "limit": 100}
        )
    ).json()
    assert audit["total"] == 19
    refusals = [m for e in audit["items"] for m in e["messages"] if "vat_id 999" in m]
    assert len(refusals) == 20
    assert all(e["emag_route"] == "offer/save" for e in audit["items"])
