"""A sync triggered through the API streams its progress to a WebSocket client until 100 %."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import httpx
import pytest
from websockets.asyncio.client import connect

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.settings import Settings
from tests.factories import make_user
from tests.support.auth import login
from tests.support.simulation import Accounts


async def test_progress_of_a_real_sync_reaches_a_websocket_client(
    ctx: AppContext, api: str, accounts: Accounts
) -> None:
    user = await make_user(ctx, role=Role.operator)
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        token = (await login(client, user.email))["access_token"]
        ws_url = api.replace("http://", "ws://") + "/api/v1/emag/enhanced/ws/sync-progress"
        async with connect(f"{ws_url}?token={token}") as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello"
            snapshot = json.loads(await ws.recv())
            assert snapshot == {"type": "snapshot", "runs": []} or snapshot["type"] == "snapshot"
            response = await client.post(
                "/api/v1/emag/enhanced/sync/offers",
                json={"account": "main"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 202
            run_id = response.json()["runs"][0]["id"]
            seen: list[dict] = []  # type: ignore[type-arg]
            while True:
                message = json.loads(await ws.recv())
                if message.get("run_id") == run_id:
                    seen.append(message)
                if message.get("type") in ("sync.completed", "sync.failed", "sync.partial"):
                    break
    types = [m["type"] for m in seen]
    assert types[0] == "sync.started"
    assert types[-1] == "sync.completed"
    assert "sync.progress" in types
    milestones = [m["data"]["milestone"] for m in seen if m["type"] == "sync.milestone"]
    assert milestones == [25, 50, 75, 100]
    last_progress = [m for m in seen if m["type"] == "sync.progress"][-1]["data"]
    assert last_progress["processed_items"] == last_progress["total_items"] == 230
    assert last_progress["percentage"] == 100.0
    assert last_progress["kind"] == "offers" and last_progress["current_page"] == 3


async def test_a_sync_in_another_process_reaches_websocket_clients_through_redis(
    ctx: AppContext, api: str, settings: Settings, accounts: Accounts
) -> None:
    if not settings.redis_url:
        pytest.skip("only the Redis bus crosses processes (set MAGFLOW_TEST_REDIS_URL)")
    user = await make_user(ctx, role=Role.viewer)
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        token = (await login(client, user.email))["access_token"]
    ws_url = api.replace("http://", "ws://") + "/api/v1/emag/enhanced/ws/sync-events"
    env = {
        **os.environ,
        "MAGFLOW_DATABASE_URL": settings.database_url,
        "MAGFLOW_VAR_DIR": str(settings.var_dir),
        "MAGFLOW_SECRET_KEY": settings.resolved_secret_key(),
        "MAGFLOW_REDIS_URL": settings.redis_url,
        "MAGFLOW_REDIS_PREFIX": settings.redis_prefix,
    }
    async with connect(f"{ws_url}?token={token}") as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "magflow",
            "sync",
            "orders",
            "--account",
            "fbe",
            "--full",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        types: list[str] = []
        async with asyncio.timeout(60):
            while not types or types[-1] != "sync.completed":
                message = json.loads(await ws.recv())
                if message.get("type", "").startswith("sync."):
                    types.append(message["type"])
        assert await process.wait() == 0
    assert types[0] == "sync.started" and "sync.progress" in types
