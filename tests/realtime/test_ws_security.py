"""An open WebSocket closes when its user is disabled or logs out; connections per user are
capped."""

from __future__ import annotations

import json

import httpx

from magflow.auth.models import User
from magflow.context import AppContext
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
