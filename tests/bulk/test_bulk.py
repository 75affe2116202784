"""Bulk offer updates against the simulator over HTTP."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import select

from magflow.audit.service import Actor
from magflow.bulk import service
from magflow.bulk.runner import BulkRunner
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag_sim import FaultConfig, SimConfig, SimulatorServer
from magflow.settings import Settings
from tests.bulk.conftest import wait_done
from tests.conftest import Backend
from tests.orders.support import (
    Clients,
    route_count,
    sim_control,
    sim_offer,
    sim_stats,
    small_sim_config,
)
from tests.support.simulation import Accounts

# Pacing is not under test here: the simulator's limit and the client's limiter are off.


@pytest.fixture
def settings(settings: Settings, backend: Backend) -> Settings:
    return settings.model_copy(update={"emag_rate_limit": False})


@pytest.fixture
def sim_config() -> SimConfig:
    config = small_sim_config(offers=520, orders=5)
    config.rate_limit = False
    return config


async def local_offers(ctx: AppContext, account_id: int) -> dict[int, EmagOffer]:
    async with ctx.db.session() as session:
        rows = await session.execute(select(EmagOffer).where(EmagOffer.account_id == account_id))
        return {o.emag_id: o for o in rows.scalars()}


async def all_items(client: httpx.AsyncClient, op_id: int, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/emag/bulk/operations/{op_id}/items", params={"limit": 1000, **params}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_idempotency_key_returns_the_same_operation_without_sending(
    sim: SimulatorServer, synced_offers: Accounts, clients: Clients
) -> None:
    api = clients.operator
    body = {"items": [{"offer_id": n, "account": "main", "stock": 7} for n in range(1, 61)]}
    headers = {"Idempotency-Key": "abc-123"}
    first = await api.post("/api/v1/emag/bulk/offers", json=body, headers=headers)
    assert first.status_code == 202
    op = await wait_done(api, first.json()["id"])
    assert op["succeeded_items"] == 60
    sent = route_count(await sim_stats(sim), "offer/save")
    assert sent == 2

    again = await api.post("/api/v1/emag/bulk/offers", json=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["id"] == op["id"] and again.json()["succeeded_items"] == 60
    await asyncio.sleep(0.5)
    assert route_count(await sim_stats(sim), "offer/save") == sent

    other = {"items": [{"offer_id": 1, "account": "main", "stock": 8}]}
    conflict = await api.post("/api/v1/emag/bulk/offers", json=other, headers=headers)
    assert conflict.status_code == 409
    listing = (await api.get("/api/v1/emag/bulk/operations")).json()
    assert listing["total"] == 1


async def test_faults_mid_bulk_leave_no_item_unaccounted_and_retry_sends_only_failed(
    ctx: AppContext, sim: SimulatorServer, synced_offers: Accounts, clients: Clients
) -> None:
    api = clients.operator
    before = await local_offers(ctx, synced_offers.main.id)
    # Once the first chunk (50 items) is written on eMAG, the chunks after it meet faults. Set
    # from within the simulator, as the 50th write lands: the chunks of one account go one after
    # the other, so the second is drawn with the faults on however fast the first was answered.
    assert sim.simulator is not None
    faults = sim.simulator.faults
    state = sim.state.account("main")
    assert state is not None
    put_offer = state.put_offer
    written = 0

    def put_then_fault(offer: dict[str, Any]) -> None:
        nonlocal written
        put_offer(offer)
        written += 1
        if written == 50:
            faults.configure(
                FaultConfig().updated(
                    {
                        "is_error": 0.4,
                        "502": 0.2,
                        "malformed": 0.1,
                        "seed": 4,
                        "routes": ["offer/save"],
                    }
                )
            )

    state.put_offer = put_then_fault  # type: ignore[method-assign]
    items = [{"offer_id": n, "account": "main", "stock": 100 + n} for n in range(1, 301)]
    response = await api.post("/api/v1/emag/bulk/offers", json={"items": items})
    op_id = response.json()["id"]
    op = await wait_done(api, op_id)
    assert op["pending_items"] == 0
    assert op["succeeded_items"] + op["failed_items"] == 300
    assert op["failed_items"] > 0 and op["succeeded_items"] >= 50
    got = await all_items(api, op_id)
    control = httpx.AsyncClient(base_url=sim.root_url)
    for item in got:
        emag_id = item["offer_emag_id"]
        stored = await control.get(f"/_sim/accounts/main/offers/{emag_id}")
        on_emag = stored.json()["general_stock"]
        if item["status"] == "succeeded":
            assert on_emag == 100 + emag_id
        else:
            assert item["status"] == "failed" and item["messages"]
            assert on_emag == before[emag_id].general_stock
    await control.aclose()
    failed = {i["offer_emag_id"] for i in got if i["status"] == "failed"}

    await sim_control(sim, "POST", "/_sim/faults", json={"replace": True})
    await sim_control(sim, "DELETE", "/_sim/stats")
    retry = await api.post(f"/api/v1/emag/bulk/operations/{op_id}/retry")
    assert retry.status_code == 202, retry.text
    op = await wait_done(api, op_id)
    assert op["status"] == "completed" and op["succeeded_items"] == 300
    assert route_count(await sim_stats(sim), "offer/save") == -(-len(failed) // 50)
    for emag_id in list(failed)[:10]:
        assert (await sim_offer(sim, emag_id))["general_stock"] == 100 + emag_id
    nothing = await api.post(f"/api/v1/emag/bulk/operations/{op_id}/retry")
    assert nothing.status_code == 409


async def test_csv_and_xlsx_uploads(
    sim: SimulatorServer, synced_offers: Accounts, clients: Clients
) -> None:
    api = clients.operator
    csv_body = "Offer ID;Stock;Sale Price\n1;5;\n2;6;\n3;abc;\n\n"
    response = await api.post(
        "/api/v1/emag/bulk/offers/upload",
        files={"file": ("offers.csv", csv_body.encode(), "text/csv")},
        data={"account": "main"},
    )
    assert response.status_code == 202, response.text
    op = await wait_done(api, response.json()["id"])
    assert op["source"] == "csv" and (op["succeeded_items"], op["invalid_items"]) == (2, 1)

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["account", "id", "stock", "handling_time"])
    sheet.append(["main", 4, 9, 2])
    sheet.append(["main", 5, 10, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = await api.post(
        "/api/v1/emag/bulk/offers/upload",
        files={"file": ("offers.xlsx", buffer.getvalue(), "application/octet-stream")},
    )
    assert response.status_code == 202, response.text
    op = await wait_done(api, response.json()["id"])
    assert op["source"] == "xlsx" and op["succeeded_items"] == 2
    assert (await sim_offer(sim, 4))["handling_time"] == [{"warehouse_id": 1, "value": 2}]

    bad = await api.post(
        "/api/v1/emag/bulk/offers/upload",
        files={"file": ("offers.csv", b"sku,price\n1,2\n", "text/csv")},
    )
    assert bad.status_code == 422


async def test_stock_only_update_uses_offer_stock(
    ctx: AppContext, sim: SimulatorServer, synced_offers: Accounts, clients: Clients
) -> None:
    api = clients.operator
    await clients.admin.put(
        "/api/v1/emag/bulk/stock-buffer", json={"account": "main", "stock_buffer": 2}
    )
    offer = (await local_offers(ctx, synced_offers.main.id))[12]
    response = await api.post(f"/api/v1/emag/offers/{offer.id}/stock", json={"stock": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["requested"], body["published"]) == (7, 5)
    assert body["offer"]["stock_total"] == 5
    assert (await sim_offer(sim, 12))["general_stock"] == 5
    assert route_count(await sim_stats(sim), "offer_stock") == 1
    assert (
        await api.post(f"/api/v1/emag/offers/{offer.id}/stock", json={"stock": -1})
    ).status_code == 422
    assert (
        await api.post("/api/v1/emag/offers/999999/stock", json={"stock": 1})
    ).status_code == 404
    entry = (await clients.admin.get("/api/v1/audit", params={"action": "offers.stock"})).json()
    assert entry["total"] == 1
    assert entry["items"][0]["http_method"] == "PATCH"
    assert entry["items"][0]["request"] == {"stock": 5}
    assert entry["items"][0]["status_code"] == 204


async def test_progress_is_published(ctx: AppContext, synced_offers: Accounts) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    async def publish(event_type: str, data: dict[str, Any]) -> None:
        events.append((event_type, data))

    actor = Actor(None, "test")
    async with ctx.db.session() as session:
        op, created = await service.create_operation(
            session,
            [{"offer_id": n, "stock": 1} for n in range(1, 76)] + [{"offer_id": 1, "stock": 2}],
            actor=actor,
            default_account="main",
        )
        await session.commit()
    assert created
    assert await BulkRunner(ctx, publish).execute(op.id) == "completed_with_errors"
    kinds = [kind for kind, _ in events]
    assert kinds == ["bulk.started", "bulk.progress", "bulk.progress", "bulk.completed"]
    final = events[-1][1]
    assert (final["succeeded_items"], final["invalid_items"]) == (75, 1)  # the duplicate
    assert final["status"] == "completed_with_errors"
