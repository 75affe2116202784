from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from magflow.context import AppContext
from magflow.emag_sim import SimConfig
from magflow.sync.models import SyncKind
from tests.orders.support import clients, small_sim_config
from tests.support.simulation import Accounts, sync

__all__ = ["clients", "synced_offers", "wait_done"]


@pytest.fixture
def sim_config() -> SimConfig:
    return small_sim_config(offers=1010, orders=5)


@pytest.fixture
async def synced_offers(ctx: AppContext, accounts: Accounts) -> Accounts:
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "completed", run.errors
    return accounts


async def wait_done(client: httpx.AsyncClient, op_id: int, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op: dict[str, Any] = (await client.get(f"/api/v1/emag/bulk/operations/{op_id}")).json()
        if op["status"] not in ("queued", "running"):
            return op
        await asyncio.sleep(0.1)
    raise AssertionError(f"bulk operation {op_id} did not finish")
