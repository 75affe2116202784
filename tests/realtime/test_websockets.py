"""The live-progress WebSockets against the app under uvicorn, with real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import textwrap
from typing import Any

import pytest
from prometheus_client import REGISTRY
from websockets.asyncio.client import connect

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
    recv_until,
)

BOTH = pytest.mark.parametrize("path", [PROGRESS_PATH, EVENTS_PATH], ids=["progress", "events"])


def is_type(kind: str) -> Any:
    return lambda message: message.get("type") == kind


# --- authentication ---------------------------------------------------------------------------


@BOTH
async def test_a_first_message_that_is_not_auth_closes_with_4401(
    live: LiveServer, path: str
) -> None:
    async with client(live.ws_url(path)) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert await close_code(ws) == 4401


@BOTH
async def test_no_token_within_the_auth_timeout_closes_with_4401(
    live: LiveServer, path: str
) -> None:
    async with client(live.ws_url(path)) as ws:
        assert await close_code(ws) == 4401  # auth_timeout is 1 s in these tests


@BOTH
async def test_a_bad_token_closes_with_4401(live: LiveServer, path: str) -> None:
    async with client(live.ws_url(path, token="not-a-jwt")) as ws:
        assert await close_code(ws) == 4401
    async with client(live.ws_url(path)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "not-a-jwt"}))
        assert await close_code(ws) == 4401


async def test_refresh_tokens_and_disabled_users_are_refused(
    live: LiveServer, ctx: AppContext
) -> None:
    user = await make_user(ctx)
    refresh = ctx.tokens.issue(user.id, "refresh", user.token_version)
    async with client(live.ws_url(EVENTS_PATH, token=refresh)) as ws:
        assert await close_code(ws) == 4401
    disabled = await make_user(ctx, is_active=False)
    access = ctx.tokens.issue(disabled.id, "access", disabled.token_version)
    async with client(live.ws_url(EVENTS_PATH, token=access)) as ws:
        assert await close_code(ws) == 4401


async def test_a_user_below_viewer_closes_with_4403(live: LiveServer, ctx: AppContext) -> None:
    user = await make_user(ctx)
    async with ctx.db.session() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.role = "guest"  # a role this version does not know
        await session.commit()
    access = ctx.tokens.issue(user.id, "access", user.token_version)
    async with client(live.ws_url(PROGRESS_PATH, token=access)) as ws:
        assert await close_code(ws) == 4403


@BOTH
async def test_token_in_the_query_then_ping_pong(live: LiveServer, token: str, path: str) -> None:
    async with client(live.ws_url(path, token=token)) as ws:
        hello = await recv_json(ws)
        assert hello["type"] == "hello" and hello["role"] == "viewer"
        await ws.send(json.dumps({"type": "ping"}))
        await recv_until(ws, is_type("pong"))


@BOTH
async def test_token_in_the_first_message(live: LiveServer, token: str, path: str) -> None:
    async with client(live.ws_url(path)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert (await recv_json(ws))["type"] == "hello"
        await ws.send(json.dumps({"type": "auth", "token": token}))  # renewing works too
        await recv_until(ws, is_type("auth.ok"))
        await ws.send(json.dumps({"type": "auth", "token": "forged"}))
        assert await close_code(ws) == 4401


# --- what each socket sends -------------------------------------------------------------------


async def test_progress_socket_sends_the_snapshot_then_sync_and_bulk_events(
    live: LiveServer, token: str
) -> None:
    running = [{"run_id": 3, "kind": "offers", "status": "running", "percentage": 40.0}]

    async def snapshot() -> list[dict[str, Any]]:
        return running

    live.hub.snapshot_provider = snapshot
    async with client(live.ws_url(PROGRESS_PATH, token=token)) as ws:
        assert (await recv_json(ws))["type"] == "hello"
        assert await recv_json(ws) == {"type": "snapshot", "runs": running}
        await live.publish("account.updated", account_id=1)
        data = {"current_page": 2, "total_pages": 5, "percentage": 40.0, "eta_seconds": 3.5}
        sent = await live.publish("sync.progress", run_id=3, account_id=1, data=data)
        await live.publish("bulk.completed", run_id=9)
        assert await recv_json(ws) == sent  # the account event was not for this socket
        assert (await recv_json(ws))["type"] == "bulk.completed"


async def test_events_socket_streams_every_event_in_order(live: LiveServer, token: str) -> None:
    async with client(live.ws_url(EVENTS_PATH, token=token)) as ws:
        assert (await recv_json(ws))["type"] == "hello"
        sent = [
            await live.publish(kind, run_id=1, account_id=2)
            for kind in ("sync.queued", "sync.started", "account.updated", "sync.completed")
        ]
        received = [await recv_json(ws) for _ in sent]
        assert received == sent
        assert [m["id"] for m in received] == sorted(m["id"] for m in received)


async def test_heartbeat_when_idle(live: LiveServer, token: str) -> None:
    live.hub.heartbeat_seconds = 0.2
    async with client(live.ws_url(EVENTS_PATH, token=token)) as ws:
        await recv_until(ws, is_type("heartbeat"), within=5)


async def test_clients_gauge_counts_authenticated_sockets(live: LiveServer, token: str) -> None:
    def gauge() -> float:
        value = REGISTRY.get_sample_value("magflow_websocket_clients", {"route": "sync-events"})
        return value or 0.0

    before = gauge()
    async with client(live.ws_url(EVENTS_PATH, token=token)) as ws:
        await recv_json(ws)
        assert gauge() == before + 1
    await eventually(lambda: gauge() == before)


# --- replay -------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["query", "auth message"])
async def test_reconnecting_with_the_last_event_id_replays_what_was_missed(
    live: LiveServer, token: str, via: str
) -> None:
    sent = [
        await live.publish("sync.progress", run_id=1, data={"processed_items": i}) for i in range(5)
    ]
    last_seen = sent[1]["id"]
    if via == "query":
        ws_cm = client(live.ws_url(EVENTS_PATH, token=token, last_event_id=last_seen))
    else:
        ws_cm = client(live.ws_url(EVENTS_PATH))
    async with ws_cm as ws:
        if via != "query":
            await ws.send(json.dumps({"type": "auth", "token": token, "last_event_id": last_seen}))
        assert (await recv_json(ws))["type"] == "hello"
        replayed = [await recv_json(ws) for _ in range(3)]
        assert replayed == sent[2:]
        assert await recv_json(ws) == {"type": "replay", "count": 3, "complete": True}
        live_event = await live.publish("sync.completed", run_id=1)
        assert await recv_json(ws) == live_event  # nothing twice, nothing missing


async def test_a_bad_last_event_id_is_reported_not_fatal(live: LiveServer, token: str) -> None:
    async with client(live.ws_url(EVENTS_PATH, token=token, last_event_id="yesterday")) as ws:
        assert (await recv_json(ws))["type"] == "hello"
        assert (await recv_json(ws))["type"] == "error"
        await ws.send(json.dumps({"type": "ping"}))
        await recv_until(ws, is_type("pong"))


# --- slow clients -----------------------------------------------------------------------------


def _tiny_receive_buffer_socket(port: int) -> socket.socket:
    """A client socket that holds little unread data, so the server's sends soon block."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


async def test_a_slow_client_holds_back_no_one_and_loses_no_terminal_event(
    live: LiveServer, token: str
) -> None:
    live.hub.queue_size = 4
    progress_count, payload = 300, os.urandom(16_384).hex()  # ~10 MB in all, beyond any buffer
    url = live.ws_url(EVENTS_PATH, token=token)
    slow_sock = _tiny_receive_buffer_socket(live.server.port)
    async with (
        connect(url, sock=slow_sock, proxy=None, compression=None, max_queue=1) as slow,
        client(url, compression=None, max_size=None) as fast,
    ):
        assert (await recv_json(slow))["type"] == "hello"
        assert (await recv_json(fast))["type"] == "hello"

        async def read_fast() -> list[dict[str, Any]]:
            return await recv_until(fast, lambda m: m.get("run_id") == 3, within=30)

        reader = asyncio.create_task(read_fast())
        for i in range(progress_count):
            await live.publish("sync.progress", run_id=1, data={"seq": i, "pad": payload})
        for run_id in (1, 2, 3):
            await live.publish("sync.completed", run_id=run_id)
        fast_messages = await reader  # while the slow client still reads nothing
        assert [m["data"]["seq"] for m in fast_messages[:progress_count]] == list(
            range(progress_count)
        )
        assert [m["type"] for m in fast_messages[progress_count:]] == ["sync.completed"] * 3

        slow_messages: list[dict[str, Any]] = []
        async with asyncio.timeout(30):
            while not slow_messages or slow_messages[-1].get("run_id") != 3:
                slow_messages.append(json.loads(await slow.recv()))
        progress = [m for m in slow_messages if m["type"] == "sync.progress"]
        terminal = [(m["type"], m["run_id"]) for m in slow_messages if m["type"] != "sync.progress"]
        assert terminal == [("sync.completed", 1), ("sync.completed", 2), ("sync.completed", 3)]
        assert len(progress) < progress_count  # coalesced...
        assert progress[-1]["data"]["seq"] == progress_count - 1  # ...keeping the latest
        seqs = [m["data"]["seq"] for m in progress]
        assert seqs == sorted(seqs)


# --- across processes (Redis) -----------------------------------------------------------------

PUBLISHER = textwrap.dedent(
    """
    import asyncio, sys
    from magflow.realtime.bus import RedisEventBus
    from magflow.realtime.throttle import ProgressThrottle

    async def main(url, prefix):
        bus = RedisEventBus.from_url(url, prefix=prefix)
        throttle = ProgressThrottle(bus)
        await throttle.publish("sync.started", run_id=42, account_id=7)
        for page in range(1, 11):
            await throttle.publish(
                "sync.progress", run_id=42, account_id=7,
                data={"current_page": page, "total_pages": 10, "percentage": page * 10.0},
            )
        await throttle.publish("sync.completed", run_id=42, account_id=7)
        await throttle.aclose()
        await bus.aclose()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_events_published_by_another_process_reach_the_websocket(
    live: LiveServer, token: str, bus_backend: str
) -> None:
    if bus_backend != "redis":
        pytest.skip("only the Redis bus crosses processes")
    assert live.settings.redis_url is not None
    async with client(live.ws_url(PROGRESS_PATH, token=token)) as ws:
        assert (await recv_json(ws))["type"] == "hello"
        assert (await recv_json(ws))["type"] == "snapshot"
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER, live.settings.redis_url, live.settings.redis_prefix
        )
        assert await asyncio.wait_for(worker.wait(), 30) == 0
        messages = await recv_until(ws, is_type("sync.completed"), within=10)
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "sync.started" and kinds[-1] == "sync.completed"
    assert all(m["run_id"] == 42 and m["account_id"] == 7 for m in messages)
    milestones = [m["data"]["milestone"] for m in messages if m["type"] == "sync.milestone"]
    assert milestones == [25, 50, 75, 100]
    progress = [m for m in messages if m["type"] == "sync.progress"]
    assert progress[-1]["data"]["current_page"] == 10  # the last progress is never lost
    assert len(progress) < 10  # throttled: pages came faster than one a second
