"""Garbage on every WebSocket route: a clean close with a meaningful code, and a server that
keeps serving (the next connection works, no client is left registered).

Before authentication anything but a good ``auth`` message closes with 4401 (and a frame over
the size limit with 1009); after it, a frame that is not a JSON object closes with 1008, an
oversized one with 1009, and a bad ``auth`` renewal with 4401. Unknown message types are
ignored (a newer client's), which the control checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from magflow.common.crypto import derive_key
from magflow.realtime.hub import MAX_MESSAGE_BYTES
from tests.hardening.conftest import Stack
from tests.hardening.inventory import websocket_paths
from tests.hardening.test_tokens import forge

PATHS = websocket_paths()
HUGE = "x" * (MAX_MESSAGE_BYTES + 1)
DEEP = "[" * 20_000 + "]" * 20_000  # valid JSON, but deeper than any parser's recursion
GARBAGE: dict[str, str | bytes] = {
    "binary junk": b"\xff\xfe\x00\x01\x80garbage\xc3\x28",
    "invalid JSON": '{"type": "auth", "token": ',
    "JSON that is no object": '["auth", "token"]',
    "deeply nested JSON": DEEP,
    "huge text frame": HUGE,
    "huge binary frame": HUGE.encode(),
    "NUL in JSON": '{"type": "ping\\u0000"}',
}
WRONG_AUTH: dict[str, dict[str, Any]] = {
    "no token": {"type": "auth"},
    "token not a string": {"type": "auth", "token": 12345},
    "garbage token": {"type": "auth", "token": "garbage"},
    "empty token": {"type": "auth", "token": ""},
}


def test_both_routes_are_drilled() -> None:
    assert len(PATHS) == 2


def close_code(ws: ClientConnection, within: float = 5.0) -> int | None:
    """Read until the server closes; the code it sent (None: no close frame at all)."""
    try:
        while True:
            ws.recv(timeout=within)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    except TimeoutError:
        return None


def open_socket(stack: Stack, path: str, query: str = "") -> Any:
    """``connect(...)``, to use as a context manager."""
    return connect(stack.ws_url(path) + query, open_timeout=5, close_timeout=2, max_size=None)


@contextmanager
def authenticated(stack: Stack, path: str) -> Iterator[ClientConnection]:
    """A socket past the handshake: authenticated, hello (and snapshot) read."""
    with open_socket(stack, path) as ws:
        ws.send(json.dumps({"type": "auth", "token": stack.seed.tokens["viewer"]}))
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        if path.endswith("sync-progress"):
            assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
        yield ws


def expired_and_refresh(stack: Stack) -> dict[str, str]:
    key = derive_key(stack.settings.resolved_secret_key(), "jwt-signing")
    viewer = str(stack.seed.users["viewer"])
    past = datetime.now(UTC) - timedelta(hours=1)
    return {
        "expired token": forge(key, sub=viewer, iat=past - timedelta(hours=1), exp=past),
        "refresh token": forge(key, sub=viewer, type="refresh"),
    }


def clients_gauge(stack: Stack) -> dict[str, float]:
    text = stack.http.get("/metrics").text
    return {
        route: float(value)
        for route, value in re.findall(r'magflow_websocket_clients\{route="([^"]+)"\} (\S+)', text)
    }


@pytest.fixture
def healthy_after(stack: Stack) -> Any:
    """The server still accepts and serves a good client, and holds no client of the drill."""
    before = clients_gauge(stack)
    yield
    for path in PATHS:
        with authenticated(stack, path) as ws:
            ws.send(json.dumps({"type": "ping"}))
            assert json.loads(ws.recv(timeout=5))["type"] == "pong"
    assert stack.http.get("/health").status_code == 200
    after = clients_gauge(stack)
    assert all(after.get(route, 0) == before.get(route, 0) for route in {*before, *after}), after


@pytest.mark.parametrize("path", PATHS)
def test_garbage_before_authentication(stack: Stack, path: str, healthy_after: Any) -> None:
    failures = []
    for kind, frame in GARBAGE.items():
        with open_socket(stack, path) as ws:
            ws.send(frame)
            code = close_code(ws)
        expected = 1009 if kind.startswith("huge") else 4401
        if code != expected:
            failures.append(f"{kind}: closed with {code}, expected {expected}")
    assert not failures, failures


@pytest.mark.parametrize("path", PATHS)
def test_wrong_auth_messages(stack: Stack, path: str, healthy_after: Any) -> None:
    messages = dict(WRONG_AUTH)
    messages.update(
        {
            name: {"type": "auth", "token": token}
            for name, token in expired_and_refresh(stack).items()
        }
    )
    messages["wrong type"] = {"type": "Auth", "token": stack.seed.tokens["viewer"]}
    failures = []
    for kind, message in messages.items():
        with open_socket(stack, path) as ws:
            ws.send(json.dumps(message))
            code = close_code(ws)
        if code != 4401:
            failures.append(f"{kind}: closed with {code}")
    for kind, token in {"garbage": "garbage", **expired_and_refresh(stack)}.items():
        with open_socket(stack, path, f"?token={token}") as ws:
            code = close_code(ws)
        if code != 4401:
            failures.append(f"?token= {kind}: closed with {code}")
    assert not failures, failures


@pytest.mark.parametrize("path", PATHS)
def test_garbage_after_authentication(stack: Stack, path: str, healthy_after: Any) -> None:
    failures = []
    cases: dict[str, tuple[str | bytes, int]] = {
        kind: (frame, 1009 if kind.startswith("huge") else 1008)
        for kind, frame in GARBAGE.items()
        if kind != "NUL in JSON"  # a JSON object of an unknown type: ignored
    }
    for kind, message in {
        **WRONG_AUTH,
        **{k: {"type": "auth", "token": t} for k, t in expired_and_refresh(stack).items()},
    }.items():
        cases[f"renewal with {kind}"] = (json.dumps(message), 4401)
    for kind, (frame, expected) in cases.items():
        with authenticated(stack, path) as ws:
            ws.send(frame)
            code = close_code(ws)
        if code != expected:
            failures.append(f"{kind}: closed with {code}, expected {expected}")
    assert not failures, failures


@pytest.mark.parametrize("path", PATHS)
def test_unknown_messages_are_ignored(stack: Stack, path: str, healthy_after: Any) -> None:
    """The control: a JSON object of a type the server does not know leaves the socket open."""
    with authenticated(stack, path) as ws:
        for message in ({"type": "subscribe", "runs": [1]}, {"no": "type"}, {"type": "ping\x00"}):
            ws.send(json.dumps(message))
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "pong"


@pytest.mark.parametrize("path", PATHS)
def test_a_bad_last_event_id_is_reported_not_fatal(
    stack: Stack, path: str, healthy_after: Any
) -> None:
    token = stack.seed.tokens["viewer"]
    with open_socket(stack, path, f"?token={token}&last_event_id=%27%3B--%00") as ws:
        seen = []
        while not seen or seen[-1].get("type") != "error":
            seen.append(json.loads(ws.recv(timeout=5)))
        assert "last_event_id" in seen[-1]["detail"]
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "pong"
