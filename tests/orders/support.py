"""Fixtures shared by the write-back tests (orders, bulk, audit, exports, returns)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from tests.factories import make_user
from tests.support.auth import auth_headers


def small_sim_config(offers: int = 60, orders: int = 60) -> SimConfig:
    tag = uuid.uuid4().hex[:8]
    return SimConfig(
        seed=23,
        offers=offers,
        orders=orders,
        history_days=20,
        accounts=[
            SimAccount(name="main", account_type="main", username=f"main-{tag}", password="pw-m"),
            SimAccount(name="fbe", account_type="fbe", username=f"fbe-{tag}", password="pw-f"),
        ],
    )


@dataclass
class Clients:
    operator: httpx.AsyncClient
    viewer: httpx.AsyncClient
    admin: httpx.AsyncClient


@pytest.fixture
async def clients(ctx: AppContext, api: str) -> AsyncIterator[Clients]:
    made = {}
    for role in (Role.operator, Role.viewer, Role.admin):
        user = await make_user(ctx, role=role)
        client = httpx.AsyncClient(base_url=api, timeout=60)
        client.headers.update(await auth_headers(client, user.email))
        made[role] = client
    yield Clients(made[Role.operator], made[Role.viewer], made[Role.admin])
    for client in made.values():
        await client.aclose()


async def sim_control(sim: SimulatorServer, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=sim.root_url, timeout=30) as control:
        response = await control.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


async def sim_order(sim: SimulatorServer, emag_id: int, account: str = "main") -> dict[str, Any]:
    result: dict[str, Any] = await sim_control(
        sim, "GET", f"/_sim/accounts/{account}/orders/{emag_id}"
    )
    return result


async def sim_offer(sim: SimulatorServer, emag_id: int, account: str = "main") -> dict[str, Any]:
    result: dict[str, Any] = await sim_control(
        sim, "GET", f"/_sim/accounts/{account}/offers/{emag_id}"
    )
    return result


async def sim_stats(sim: SimulatorServer) -> dict[str, Any]:
    result: dict[str, Any] = await sim_control(sim, "GET", "/_sim/stats")
    return result


def route_count(stats: dict[str, Any], route: str) -> int:
    return sum(int(n) for n in (stats["requests"].get(route) or {}).values())
