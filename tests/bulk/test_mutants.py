"""Bulk offer updates: behaviour that the mutation sample found unasserted (issue 19).

Against the simulator over HTTP. One test puts a small proxy in front of the simulator that
answers ``offer/save`` with empty ``results`` (eMAG's answer is UNCERTAIN there, see
docs/emag-protocol.md, "Offers"); another runs a second MagFlow process on the same database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from magflow.accounts.models import AccountType
from magflow.context import AppContext
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.settings import Settings
from magflow.sync.models import SyncKind
from tests.bulk.conftest import wait_done
from tests.conftest import Backend
from tests.factories import make_account
from tests.orders.support import (
    Clients,
    route_count,
    sim_control,
    sim_offer,
    sim_stats,
    small_sim_config,
)
from tests.support.servers import UvicornThread, free_port
from tests.support.simulation import Accounts, sync

BULK = "/api/v1/emag/bulk/offers"


@pytest.fixture
def settings(settings: Settings, backend: Backend) -> Settings:
    return settings.model_copy(update={"emag_rate_limit": False})


@pytest.fixture
def sim_config() -> SimConfig:
    config = small_sim_config(offers=60, orders=5)
    config.rate_limit = False
    return config


async def items_of(client: httpx.AsyncClient, op_id: int) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/emag/bulk/operations/{op_id}/items", params={"limit": 1000}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def refused_locally(
    sim: SimulatorServer, clients: Clients, items: list[dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """Send ``items``; each must end ``invalid`` and nothing reach eMAG. Returns them by offer."""
    await sim_control(sim, "DELETE", "/_sim/stats")
    response = await clients.operator.post(BULK, json={"items": items})
    assert response.status_code == 202, response.text
    op = await wait_done(clients.operator, response.json()["id"])
    assert (op["invalid_items"], op["succeeded_items"], op["failed_items"]) == (len(items), 0, 0)
    by_offer = {i["offer_emag_id"]: i for i in await items_of(clients.operator, op["id"])}
    assert {item["status"] for item in by_offer.values()} == {"invalid"}
    assert route_count(await sim_stats(sim), "offer/save") == 0
    return by_offer


async def test_a_price_of_zero_is_refused_before_sending(
    sim: SimulatorServer, synced_offers: Accounts, clients: Clients
) -> None:
    """eMAG prices are > 0: a 0 is refused locally with a message naming the field."""
    before = [await sim_offer(sim, n) for n in (1, 3)]
    by_offer = await refused_locally(
        sim,
        clients,
        [
            {"offer_id": 1, "account": "main", "min_sale_price": 0},
            {"offer_id": 3, "account": "main", "sale_price": "0.00"},
        ],
    )
    assert any("min_sale_price" in m and "0" in m for m in by_offer[1]["messages"])
    assert any("sale_price" in m for m in by_offer[3]["messages"])
    assert [await sim_offer(sim, n) for n in (1, 3)] == before


async def test_max_sale_price_equal_to_min_is_refused_before_sending(
    sim: SimulatorServer, synced_offers: Accounts, clients: Clients
) -> None:
    """``max_sale_price`` must be greater than ``min_sale_price`` (eMAG's rule): equal is
    refused, even when the sale price sits exactly there."""
    offer = await sim_offer(sim, 2)
    price = offer["sale_price"]
    by_offer = await refused_locally(
        sim,
        clients,
        [{"offer_id": 2, "account": "main", "min_sale_price": price, "max_sale_price": price}],
    )
    assert any("max_sale_price" in m for m in by_offer[2]["messages"])
    assert await sim_offer(sim, 2) == offer


# --- eMAG's answer mentions no item ------------------------------------------------------------


def quiet_proxy(target: str) -> Starlette:
    """Forwards every request to ``target``; ``offer/save`` is applied there but answered with
    empty ``results`` (no item mentioned)."""

    async def forward(request: Request) -> Response:
        async with httpx.AsyncClient(base_url=target, timeout=30) as upstream:
            answer = await upstream.request(
                request.method,
                request.url.path,
                params=request.query_params,
                content=await request.body(),
                headers={k: v for k, v in request.headers.items() if k.lower() not in ("host",)},
            )
        if request.url.path.endswith("/offer/save") and answer.status_code == 200:
            return JSONResponse({"isError": False, "messages": [], "results": []})
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type"),
        )

    return Starlette(
        routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])]
    )


@pytest.fixture
def proxy(sim: SimulatorServer) -> Iterator[str]:
    with UvicornThread(quiet_proxy(sim.root_url)) as server:  # type: ignore[arg-type]
        yield server.url


async def test_items_the_answer_does_not_mention_are_taken_as_saved(
    ctx: AppContext, sim: SimulatorServer, proxy: str, clients: Clients
) -> None:
    sim_account = next(a for a in sim.accounts if a.name == "main")
    account = await make_account(
        ctx,
        name="main",
        account_type=AccountType.main,
        username=sim_account.username,
        password=sim_account.password,
        base_url=f"{proxy}/api-3",
    )
    assert (await sync(ctx, account, SyncKind.offers)).status == "completed"
    items = [{"offer_id": n, "account": "main", "stock": 40 + n} for n in range(1, 6)]
    response = await clients.operator.post(BULK, json={"items": items})
    assert response.status_code == 202, response.text
    op = await wait_done(clients.operator, response.json()["id"])
    assert op["status"] == "completed"
    assert (op["succeeded_items"], op["failed_items"]) == (5, 0)
    assert {i["status"] for i in await items_of(clients.operator, op["id"])} == {"succeeded"}
    for n in range(1, 6):  # and eMAG did save them
        assert (await sim_offer(sim, n))["general_stock"] == 40 + n


# --- retry while another process runs the operation -------------------------------------------


@pytest.fixture
def other_process(settings: Settings) -> Iterator[str]:
    """A second MagFlow API process on the same database (as on another machine)."""
    env = {
        **os.environ,
        "MAGFLOW_DATABASE_URL": settings.database_url,
        "MAGFLOW_VAR_DIR": str(settings.var_dir),
        "MAGFLOW_SECRET_KEY": settings.resolved_secret_key(),
        "MAGFLOW_REDIS_PREFIX": settings.redis_prefix,
        "MAGFLOW_SCHEDULES_ENABLED": "false",
        "MAGFLOW_MIGRATE_ON_START": "false",
        "MAGFLOW_EMAG_RATE_LIMIT": "false",
    }
    if settings.redis_url:
        env["MAGFLOW_REDIS_URL"] = settings.redis_url
    else:
        env.pop("MAGFLOW_REDIS_URL", None)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "magflow", "serve", "--port", str(port)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "the second API process exited"
            assert time.monotonic() < deadline, "the second API process did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
async def there(other_process: str, clients: Clients) -> AsyncIterator[httpx.AsyncClient]:
    """The operator's client, on the other process."""
    async with httpx.AsyncClient(
        base_url=other_process, timeout=60, headers=dict(clients.operator.headers)
    ) as client:
        yield client


async def test_retry_is_refused_while_another_process_runs_the_operation(
    sim: SimulatorServer, synced_offers: Accounts, clients: Clients, there: httpx.AsyncClient
) -> None:
    """An operation running in another process is not retried here (its items would be sent
    twice): 409 until it ends, whatever this process knows of it."""
    await sim_control(
        sim,
        "POST",
        "/_sim/faults",
        json={"replace": True, "slow": 1.0, "slow_seconds": 4, "routes": ["offer/save"]},
    )
    items = [{"offer_id": n, "account": "main", "stock": 70 + n} for n in range(1, 11)]
    response = await there.post(BULK, json={"items": items})
    assert response.status_code == 202, response.text
    op_id = response.json()["id"]

    retry = await clients.operator.post(f"/api/v1/emag/bulk/operations/{op_id}/retry")
    assert retry.status_code == 409, retry.text
    assert "still" in retry.json()["detail"]

    await sim_control(sim, "POST", "/_sim/faults", json={"replace": True})
    op = await wait_done(there, op_id)
    assert (op["status"], op["succeeded_items"]) == ("completed", 10)
    assert route_count(await sim_stats(sim), "offer/save") == 1  # sent once
