"""An open WebSocket closes when its user is disabled or logs out; connections per user are
capped."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx

from magflow.auth.models import User
from magflow.context import AppContext
from magflow.realtime.hub import Principal
from magflow.realtime.routes import token_authenticator
from tests.factories import make_user
from tests.realtime.conftest import (
    EVENTS_PATH,
    PROGRESS_PATH,
    LiveServer,
    client,
    close_code,
    eventually,
    recv_json,
)
from tests.support.auth import login


async def _hello(ws) -> None:  # type: ignore[no-untyped-def]
    assert (await recv_json(ws))["type"] == "hello"


async def test_disabling_the_user_closes_an_open_socket(live: LiveServer, ctx: AppContext) -> None:
    user = await make_user(ctx)
    token = ctx.tokens.issue(user.id, "access", user.token_version)
    async with client(live.ws_url(EVENTS_PATH, token=token)) as ws:
        await _hello(ws)
        async with ctx.db.session() as session:
            row = await session.get(User, user.id)
            assert row is not None
            row.is_active = False
            await session.commit()
        assert await close_code(ws, within=15) == 4401


async def test_logging_out_closes_an_open_socket(live: LiveServer, ctx: AppContext) -> None:
    user = await make_user(ctx)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.server.port}") as http:
        tokens = await login(http, user.email)
        async with client(live.ws_url(PROGRESS_PATH)) as ws:
            await ws.send(json.dumps({"type": "auth", "token": tokens["access_token"]}))
            await _hello(ws)
            response = await http.post(
                "/api/v1/auth/logout",
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
            )
            assert response.status_code == 204
            assert await close_code(ws, within=15) == 4401


async def test_connections_per_user_are_capped(live: LiveServer, ctx: AppContext) -> None:
    assert live.hub.max_connections_per_user == live.settings.ws_max_connections_per_user == 20
    live.hub.max_connections_per_user = 2
    user = await make_user(ctx)
    other = await make_user(ctx)
    token = ctx.tokens.issue(user.id, "access", user.token_version)
    async with client(live.ws_url(EVENTS_PATH, token=token)) as first:
        await _hello(first)
        async with client(live.ws_url(EVENTS_PATH, token=token)) as second:
            await _hello(second)
            async with client(live.ws_url(EVENTS_PATH, token=token)) as third:
                assert await close_code(third) == 1008
            other_token = ctx.tokens.issue(other.id, "access", other.token_version)
            async with client(live.ws_url(EVENTS_PATH, token=other_token)) as theirs:
                await _hello(theirs)
        # A slot freed is usable again.
        await eventually(lambda: live.hub.client_count == 1)
        async with client(live.ws_url(EVENTS_PATH, token=token)) as again:
            await _hello(again)


async def test_a_token_shared_by_several_sockets_is_checked_once_per_round(
    live: LiveServer, ctx: AppContext
) -> None:
    """The hub re-checks each distinct token once per round, not once per socket; a revoked
    one still closes every socket that carries it."""
    live.hub.recheck_seconds = 3600  # rounds are run by hand below
    checked: list[str] = []
    real = token_authenticator(live.app.state.ctx)

    async def counting(token: str) -> Principal:
        checked.append(token)
        return await real(token)

    live.hub.authenticator = counting
    user = await make_user(ctx)
    token = ctx.tokens.issue(user.id, "access", user.token_version)

    def recheck() -> None:
        asyncio.run_coroutine_threadsafe(live.hub.recheck(), live.loop).result(10)

    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(client(live.ws_url(EVENTS_PATH, token=token)))
            for _ in range(3)
        ]
        for ws in sockets:
            await _hello(ws)
        checked.clear()
        await asyncio.to_thread(recheck)
        assert checked == [token]
        async with ctx.db.session() as session:
            row = await session.get(User, user.id)
            assert row is not None
            row.is_active = False
            await session.commit()
        await asyncio.to_thread(recheck)
        assert [await close_code(ws) for ws in sockets] == [4401, 4401, 4401]
