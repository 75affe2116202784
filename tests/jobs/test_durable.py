"""procrastinate: the API defers, a separate `magflow worker` process executes (PostgreSQL only)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import httpx
import procrastinate
import psycopg
import pytest
from sqlalchemy.engine import make_url

from magflow.app import create_app
from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.jobs.durable import ensure_schema
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


async def test_processes_starting_together_create_the_queue_schema_once(
    durable_settings: Settings,
) -> None:
    """APIs and workers starting at the same moment on a new database: each one's
    ``ensure_schema`` succeeds (the lock is held until the schema is committed)."""
    server = make_url(durable_settings.async_database_url).set(drivername="postgresql")
    name = f"{server.database}_schema_{secrets.token_hex(3)}"
    admin = server.render_as_string(hide_password=False)
    fresh = server.set(database=name).render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    try:

        async def start() -> None:
            app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=fresh))
            async with app.open_async():
                await ensure_schema(app)

        results = await asyncio.gather(*(start() for _ in range(4)), return_exceptions=True)
        assert results == [None] * 4
        async with await psycopg.AsyncConnection.connect(fresh) as conn:
            cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs')")
            assert (await cursor.fetchone()) == ("procrastinate_jobs",)
    finally:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
