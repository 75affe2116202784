"""A real app under uvicorn with the realtime hub, and WebSocket client helpers.

``bus_backend`` runs each server test with the in-process bus and, when
``MAGFLOW_TEST_REDIS_URL`` is set, with the Redis bus.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from redis import Redis as SyncRedis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from magflow.context import AppContext
from magflow.realtime.bus import EventBus
from magflow.realtime.events import Event, make_event
from magflow.realtime.hub import Hub
from magflow.settings import Settings
from tests.factories import make_user
from tests.support.servers import UvicornThread

REDIS_URL = os.environ.get("MAGFLOW_TEST_REDIS_URL")
PROGRESS_PATH = "/api/v1/emag/enhanced/ws/sync-progress"
EVENTS_PATH = "/api/v1/emag/enhanced/ws/sync-events"


@pytest.fixture(params=["memory", "redis"])
def bus_backend(request: pytest.FixtureRequest) -> str:
    if request.param == "redis" and REDIS_URL is None:
        pytest.skip("Redis not configured: set MAGFLOW_TEST_REDIS_URL")
    return str(request.param)


@pytest.fixture
def rt_settings(settings: Settings, bus_backend: str) -> Iterator[Settings]:
    redis_url = REDIS_URL if bus_backend == "redis" else None
    rt = settings.model_copy(update={"redis_url": redis_url, "ws_auth_timeout_seconds": 1.0})
    yield rt
    if redis_url:
        with SyncRedis.from_url(redis_url) as client:
            keys = list(client.scan_iter(f"{rt.redis_prefix}:*"))
            if keys:
                client.delete(*keys)


@dataclass
class LiveServer:
    app: FastAPI
    server: UvicornThread
    settings: Settings
    loop: asyncio.AbstractEventLoop

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.hub
        return hub

    @property
    def bus(self) -> EventBus:
        return self.hub.bus

    def ws_url(self, path: str, **query: str) -> str:
        url = f"ws://127.0.0.1:{self.server.port}{path}"
        if query:
            url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        return url

    async def publish(self, type: str, **kwargs: Any) -> Event:
        """Publish through the server's own bus, in the server's event loop."""
        future: Future[Event] = asyncio.run_coroutine_threadsafe(
            self.bus.publish(make_event(type, **kwargs)), self.loop
        )
        return await asyncio.wrap_future(future)

    async def run_in_server(self, fn: Callable[[], Any]) -> Any:
        async def call() -> Any:
            return fn()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), self.loop))


@pytest.fixture
def live(rt_settings: Settings) -> Iterator[LiveServer]:
    from magflow.app import create_app

    # create_app's lifespan starts the hub (auth timeout: rt_settings' 1 s) on rt_settings' bus.
    app = create_app(rt_settings)
    loops: list[asyncio.AbstractEventLoop] = []
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            loops.append(asyncio.get_running_loop())
            yield state

    app.router.lifespan_context = lifespan
    with UvicornThread(app) as server:
        yield LiveServer(app, server, rt_settings, loops[0])


@pytest.fixture
async def token(ctx: AppContext) -> str:
    user = await make_user(ctx)
    return ctx.tokens.issue(user.id, "access", user.token_version)


def client(url: str, **kwargs: Any) -> Any:
    return connect(url, proxy=None, open_timeout=5, **kwargs)


async def recv_json(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        message = await ws.recv()
    payload: dict[str, Any] = json.loads(message)
    return payload


async def recv_until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], within: float = 5.0
) -> list[dict[str, Any]]:
    """Messages up to and including the first one matching ``predicate``."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            seen.append(json.loads(await ws.recv()))
            if predicate(seen[-1]):
                return seen


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (bounded) until ``check()``: for state another thread or task changes."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - the state has no event to wait on
            await asyncio.sleep(0.01)


async def close_code(ws: ClientConnection, within: float = 5.0) -> int | None:
    """Read until the server closes; the close code it sent."""
    try:
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    raise AssertionError("unreachable")
