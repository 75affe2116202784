"""A process executing a bulk operation is killed (SIGKILL) while a chunk is at eMAG: the change
has landed there, the answer never reached the process. Another process resumes the operation
and every item reaches eMAG exactly once (the simulator counts every offer change it applies).

- ``inprocess``: the API process executes the operation; it is killed and started again.
- ``procrastinate`` (PostgreSQL): a worker executes it; it is killed and a new worker resumes.

(Here rather than in tests/bulk: the workers create procrastinate's tables in the test database,
which the schema comparison of tests/db must not see.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from magflow.auth.models import Role
from magflow.bulk.models import BulkOperation, BulkOperationItem
from magflow.context import AppContext
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.settings import Settings
from magflow.sync.models import SyncKind
from tests.bulk.conftest import OfferWrites, wait_done
from tests.conftest import Backend
from tests.factories import make_user
from tests.orders.support import route_count, sim_offer, sim_stats, small_sim_config
from tests.support.auth import login
from tests.support.servers import free_port
from tests.support.simulation import Accounts, sync

ITEMS = 400


@pytest.fixture
def settings(settings: Settings, backend: Backend) -> Settings:
    return settings.model_copy(update={"emag_rate_limit": False})


@pytest.fixture
def sim_config() -> SimConfig:
    config = small_sim_config(offers=ITEMS + 10, orders=5)
    config.rate_limit = False
    return config


@pytest.fixture
async def synced_offers(ctx: AppContext, accounts: Accounts) -> Accounts:
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "completed", run.errors
    return accounts


@pytest.fixture
def offer_writes(sim: SimulatorServer) -> Iterator[OfferWrites]:
    writes = OfferWrites(sim)
    yield writes
    writes.release()


@pytest.fixture(params=["inprocess", "procrastinate"])
def jobs(request: pytest.FixtureRequest, settings: Settings) -> str:
    if request.param == "procrastinate" and (settings.is_sqlite or not settings.redis_url):
        pytest.skip("procrastinate runs on PostgreSQL; a worker's events reach the API by Redis")
    return str(request.param)


@pytest.fixture
def env(settings: Settings, jobs: str) -> dict[str, str]:
    values = {
        **os.environ,
        "MAGFLOW_DATABASE_URL": settings.database_url,
        "MAGFLOW_VAR_DIR": str(settings.var_dir),
        "MAGFLOW_SECRET_KEY": settings.resolved_secret_key(),
        "MAGFLOW_REDIS_PREFIX": settings.redis_prefix,
        "MAGFLOW_JOBS": jobs,
        "MAGFLOW_SCHEDULES_ENABLED": "false",
        "MAGFLOW_MIGRATE_ON_START": "false",
        "MAGFLOW_EMAG_RATE_LIMIT": "false",
        "MAGFLOW_SYNC_HEARTBEAT_SECONDS": "0.5",
        "MAGFLOW_SYNC_STALE_SECONDS": "2",
    }
    if settings.redis_url:
        values["MAGFLOW_REDIS_URL"] = settings.redis_url
    return values


async def events_socket(url: str, token: str) -> ClientConnection:
    ws = await connect(
        url.replace("http", "ws") + f"/api/v1/emag/enhanced/ws/sync-events?token={token}"
    )
    assert json.loads(await ws.recv())["type"] == "hello"
    return ws


async def bulk_events(ws: ClientConnection, op_id: int, until: Any) -> list[str]:
    """The types of the operation's events, read until ``until(types)`` holds."""
    seen: list[str] = []
    async with asyncio.timeout(120):
        while not until(seen):
            message = json.loads(await ws.recv())
            if message["type"].startswith("bulk.") and message["data"].get("id") == op_id:
                seen.append(message["type"])
    return seen


class Processes:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.started: list[subprocess.Popen[bytes]] = []

    def serve(self) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        process = self._start("serve", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return url, process
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "the API process exited"
            assert time.monotonic() < deadline, "the API process did not start"
            time.sleep(0.2)

    def worker(self) -> subprocess.Popen[bytes]:
        return self._start("worker")

    def _start(self, *args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "magflow", *args], env=self.env)
        self.started.append(process)
        return process


@pytest.fixture
def processes(env: dict[str, str]) -> Iterator[Processes]:
    made = Processes(env)
    yield made
    for process in made.started:
        if process.poll() is None:
            process.terminate()
    for process in made.started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_a_killed_process_leaves_an_operation_that_resumes_sending_each_item_once(
    ctx: AppContext,
    sim: SimulatorServer,
    synced_offers: Accounts,
    offer_writes: OfferWrites,
    processes: Processes,
    jobs: str,
) -> None:
    user = await make_user(ctx, role=Role.operator)
    url, api_process = processes.serve()
    worker = processes.worker() if jobs == "procrastinate" else None
    offer_writes.hold_after(150)  # chunk 3 lands on eMAG; its answer is held back
    items = [{"offer_id": n, "account": "main", "stock": 5000 + n} for n in range(1, ITEMS + 1)]
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        token = (await login(api, user.email))["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        ws = await events_socket(url, token)
        response = await api.post("/api/v1/emag/bulk/offers", json={"items": items})
        assert response.status_code == 202, response.text
        op_id = response.json()["id"]
    await offer_writes.wait_held()
    # Progress reaches the API's WebSocket clients from whichever process runs the operation.
    before = await bulk_events(ws, op_id, lambda seen: seen.count("bulk.progress") == 2)
    assert before == ["bulk.started", "bulk.progress", "bulk.progress"]

    async with ctx.db.session() as session:
        op = await session.get(BulkOperation, op_id)
        assert op is not None and op.status == "running" and op.worker_id
        holder = op.worker_id
        rows = await session.execute(
            select(BulkOperationItem.status, BulkOperationItem.offer_emag_id)
            .where(BulkOperationItem.operation_id == op_id)
            .order_by(BulkOperationItem.position)
        )
        statuses = {emag_id: status for status, emag_id in rows.all()}
    assert [n for n, s in statuses.items() if s == "sending"] == list(range(101, 151))
    assert [n for n, s in statuses.items() if s == "succeeded"] == list(range(1, 101))
    victim = worker if worker is not None else api_process
    assert int(holder.rsplit(":", 1)[1]) == victim.pid
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    offer_writes.release()

    if worker is not None:
        processes.worker()  # a new worker; the API process kept running
        after = await bulk_events(ws, op_id, lambda seen: "bulk.completed" in seen)
        assert after[0] == "bulk.started" and after[-1] == "bulk.completed"
        assert "bulk.progress" in after
    else:
        url, api_process = processes.serve()
    await ws.close()
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        token = (await login(api, user.email))["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        done = await wait_done(api, op_id, timeout=120)
    assert done["status"] == "completed", done
    assert (done["succeeded_items"], done["failed_items"], done["pending_items"]) == (ITEMS, 0, 0)
    assert offer_writes.of("main") == {n: 1 for n in range(1, ITEMS + 1)}
    # 8 chunks: 1-2 answered before the kill, 3 confirmed by reading eMAG, 4-8 sent after
    assert route_count(await sim_stats(sim), "offer/save") == 8
    assert done["requests_sent"] == 7
    for n in (1, 101, 150, 151, ITEMS):
        assert (await sim_offer(sim, n))["general_stock"] == 5000 + n
    async with ctx.db.session() as session:
        final = await session.get(BulkOperation, op_id)
    assert final is not None and final.worker_id != holder
