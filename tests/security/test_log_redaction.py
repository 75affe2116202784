"""Tokens never reach the logs, even when a client puts one in the URL (WebSocket ``?token=``):
the app under uvicorn, with its access log on, as ``magflow serve`` runs it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect

from magflow.app import SERVER_OPTIONS, create_app
from magflow.common.logging import configure_logging
from magflow.context import AppContext
from magflow.settings import LogFormat, Settings
from tests.factories import make_user
from tests.support.servers import free_port


@pytest.fixture
def logged_server(settings: Settings, capfd: pytest.CaptureFixture[str]) -> Iterator[str]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging(LogFormat.text, "INFO")
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="info",
        **SERVER_OPTIONS,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


async def test_tokens_in_urls_are_redacted_from_every_log_line(
    ctx: AppContext, logged_server: str, capfd: pytest.CaptureFixture[str]
) -> None:
    user = await make_user(ctx)
    token = ctx.tokens.issue(user.id, "access", user.token_version)
    async with connect(
        f"ws://{logged_server}/api/v1/emag/enhanced/ws/sync-events?token={token}", proxy=None
    ) as ws:
        assert "hello" in str(await ws.recv())
    async with httpx.AsyncClient(base_url=f"http://{logged_server}") as client:
        await client.get(f"/health?access_token={token}")
        await client.get(f"/api/v1/auth/me?refresh_token={token}")
    time.sleep(0.2)  # let the server thread flush its last access line
    out, err = capfd.readouterr()
    logged = out + err
    assert "sync-events?token=[redacted]" in logged
    assert "/health?access_token=[redacted]" in logged
    assert token not in logged
    assert token.split(".")[2] not in logged
