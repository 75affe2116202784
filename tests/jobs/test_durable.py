"""procrastinate: the API defers, a separate `magflow worker` process executes (PostgreSQL only)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from magflow.app import create_app
from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.settings import JobBackend, Settings
from tests.factories import make_user
from tests.support.auth import auth_headers
from tests.support.servers import UvicornThread
from tests.support.simulation import Accounts
from tests.sync.test_routes import wait_finished


@pytest.fixture
def durable_settings(settings: Settings) -> Settings:
    if settings.is_sqlite:
        pytest.skip("procrastinate runs on PostgreSQL only")
    return settings.model_copy(update={"jobs": JobBackend.procrastinate})


@pytest.fixture
def worker(durable_settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "MAGFLOW_DATABASE_URL": durable_settings.database_url,
        "MAGFLOW_VAR_DIR": str(durable_settings.var_dir),
        "MAGFLOW_SECRET_KEY": durable_settings.resolved_secret_key(),
        "MAGFLOW_REDIS_URL": durable_settings.redis_url or "",
        "MAGFLOW_REDIS_PREFIX": durable_settings.redis_prefix,
        "MAGFLOW_JOBS": "procrastinate",
        "MAGFLOW_SCHEDULES_ENABLED": "false",
    }
    process = subprocess.Popen([sys.executable, "-m", "magflow", "worker"], env=env)
    yield process
    process.terminate()
    process.wait(timeout=20)


async def test_a_sync_requested_from_the_api_runs_on_a_worker(
    ctx: AppContext,
    durable_settings: Settings,
    accounts: Accounts,
    worker: subprocess.Popen[bytes],
) -> None:
    user = await make_user(ctx, role=Role.operator)
    with UvicornThread(create_app(durable_settings)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            client.headers.update(await auth_headers(client, user.email))
            response = await client.post(
                "/api/v1/emag/enhanced/sync/orders", json={"account": "fbe", "mode": "full"}
            )
            assert response.status_code == 202, response.text
            run_id = response.json()["runs"][0]["id"]
            final = await wait_finished(client, run_id, timeout=90)
    assert final["status"] == "completed", final["errors"]
    assert final["processed_items"] == final["total_items"] == 260
    assert worker.poll() is None  # the worker keeps serving
