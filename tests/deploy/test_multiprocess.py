"""Two API processes and two procrastinate workers on PostgreSQL and Redis, as on several machines.

A sync triggered on one API runs on a worker and streams to WebSocket clients of both APIs; the
workers share the account's eMAG budget (the simulator counts no 429); a worker killed with
SIGKILL mid-sync leaves a run that the other worker resumes, ending as a clean run would.
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

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.settings import Settings
from magflow.sync.models import SyncKind, SyncLog
from tests.factories import make_account, make_user
from tests.support.auth import login
from tests.support.servers import free_port
from tests.support.simulation import read_everything, set_faults

ORDERS = 2500


@pytest.fixture
def cluster_env(settings: Settings) -> dict[str, str]:
    if settings.is_sqlite or not settings.redis_url:
        pytest.skip("the multi-process deployment needs PostgreSQL and Redis")
    return {
        **os.environ,
        "MAGFLOW_DATABASE_URL": settings.database_url,
        "MAGFLOW_VAR_DIR": str(settings.var_dir),
        "MAGFLOW_SECRET_KEY": settings.resolved_secret_key(),
        "MAGFLOW_REDIS_URL": settings.redis_url,
        "MAGFLOW_REDIS_PREFIX": settings.redis_prefix,
        "MAGFLOW_JOBS": "procrastinate",
        "MAGFLOW_SCHEDULES_ENABLED": "false",
        "MAGFLOW_MIGRATE_ON_START": "false",
        "MAGFLOW_SYNC_HEARTBEAT_SECONDS": "1",
        "MAGFLOW_SYNC_STALE_SECONDS": "3",
    }


@pytest.fixture
def cluster(
    cluster_env: dict[str, str],
) -> Iterator[tuple[list[str], dict[int, subprocess.Popen[bytes]]]]:
    ports = [free_port(), free_port()]
    apis = [
        subprocess.Popen(
            [sys.executable, "-m", "magflow", "serve", "--port", str(port)], env=cluster_env
        )
        for port in ports
    ]
    workers = {
        p.pid: p
        for p in (
            subprocess.Popen([sys.executable, "-m", "magflow", "worker"], env=cluster_env)
            for _ in range(2)
        )
    }
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    deadline = time.monotonic() + 60
    for url in urls:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "API process did not start"
            time.sleep(0.2)
    yield urls, workers
    for process in [*apis, *workers.values()]:
        if process.poll() is None:
            process.terminate()
    for process in [*apis, *workers.values()]:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.slow
async def test_two_apis_two_workers_share_the_work_and_survive_a_killed_worker(
    ctx: AppContext, cluster: tuple[list[str], dict[int, subprocess.Popen[bytes]]]
) -> None:
    urls, workers = cluster
    config = SimConfig(
        seed=8,
        offers=10,
        orders=ORDERS,
        history_days=40,
        accounts=[
            SimAccount(name="big", username=f"cluster-{os.getpid()}", password="cluster-pw-31")
        ],
    )
    with SimulatorServer(config) as sim:
        account = await make_account(
            ctx,
            name="big",
            username=config.accounts[0].username,
            password="cluster-pw-31",
            base_url=sim.base_url,
        )
        await set_faults(sim, slow=0.5, slow_seconds=0.2, seed=2)
        user = await make_user(ctx, role=Role.operator)
        async with httpx.AsyncClient(base_url=urls[0], timeout=30) as api:
            token = (await login(api, user.email))["access_token"]
            api.headers["Authorization"] = f"Bearer {token}"
            sockets = [
                await connect(
                    url.replace("http", "ws")
                    + f"/api/v1/emag/enhanced/ws/sync-events?token={token}"
                )
                for url in urls
            ]
            for ws in sockets:
                assert json.loads(await ws.recv())["type"] == "hello"
                # The client offered permessage-deflate (websockets does by default, as browsers
                # do); `magflow serve` declines it (magflow.app.SERVER_OPTIONS).
                assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
            response = await api.post(
                "/api/v1/emag/enhanced/sync/orders", json={"account": "big", "mode": "full"}
            )
            assert response.status_code == 202, response.text
            run_id = response.json()["runs"][0]["id"]

            # Kill the worker that holds the run once a few pages are in.
            deadline = time.monotonic() + 90
            while True:
                async with ctx.db.session() as session:
                    run = await session.get(SyncLog, run_id)
                    assert run is not None
                    progress, holder = run.processed_items, run.worker_id
                if progress >= 600 and holder:
                    break
                assert time.monotonic() < deadline, "the run did not progress on a worker"
                await asyncio.sleep(0.1)
            pid = int(holder.rsplit(":", 1)[1])
            assert pid in workers, f"run held by {holder}, not one of the workers"
            workers[pid].send_signal(signal.SIGKILL)
            workers[pid].wait(timeout=10)
            await set_faults(sim)

            async def until_terminal(ws) -> list[str]:  # type: ignore[no-untyped-def]
                seen: list[str] = []
                async with asyncio.timeout(120):
                    while True:
                        message = json.loads(await ws.recv())
                        if message.get("run_id") == run_id:
                            seen.append(message["type"])
                            if message["type"] in ("sync.completed", "sync.failed", "sync.partial"):
                                return seen

            streams = await asyncio.gather(*(until_terminal(ws) for ws in sockets))
            for ws in sockets:
                await ws.close()

        assert all(stream[-1] == "sync.completed" for stream in streams), streams
        assert all("sync.progress" in stream for stream in streams)
        async with ctx.db.session() as session:
            final = await session.get(SyncLog, run_id)
            stored = (await session.execute(select(EmagOrder))).scalars().all()
        assert final is not None and final.status == "completed"
        assert final.worker_id != holder  # the surviving worker finished it
        assert final.processed_items == final.total_items == ORDERS
        assert final.created_items == ORDERS and final.updated_items == 0
        expected = await read_everything(ctx, account, SyncKind.orders)
        assert {o.emag_id: o.raw for o in stored} == expected
        stats = httpx.get(f"{sim.root_url}/_sim/stats").json()
        assert stats["rate_limited"] == 0
