"""The WebSocket hub: fans bus events out to the connected clients of this API process.

One listener on the bus puts each event (serialised once) into every interested client's
:class:`ClientQueue`; each client has its own sender task, so a slow client only ever delays
itself. Protocol of both sockets (see :mod:`magflow.realtime.routes` for the paths):

1. The server accepts, then authenticates: ``?token=<access token>``, or else the first message
   must be ``{"type": "auth", "token": "...", "last_event_id": "..."}`` within
   :attr:`Hub.auth_timeout` seconds. Failures close the socket (after accepting, so that browsers
   see the code): **4401** no token, invalid / expired / revoked token, or a user who is unknown or
   disabled (the same answer as HTTP 401 for these); **4403** a valid user whose role is not
   viewer or better (only possible with a role unknown to this version, as every known role is).
2. ``{"type": "hello", ...}``; on ``sync-progress`` then ``{"type": "snapshot", "runs": [...]}``
   from :attr:`Hub.snapshot_provider` (the sync engine registers one; the default returns ``[]``).
3. With ``last_event_id`` (query parameter or in the auth message): the missed events from the
   bus's replay buffer, then ``{"type": "replay", "count": n, "complete": bool}``; ``complete`` is
   False when the buffer no longer reaches back that far (reload state from the REST API).
4. Live events, each the event itself (``{"id", "type", "run_id", "account_id", "ts",
   "data"}``); ``sync-progress`` gets ``sync.*`` and ``bulk.*``, ``sync-events`` everything. Ids
   increase; a client keeps the last one to resume after a reconnect.

Client messages: ``{"type": "ping"}`` → ``{"type": "pong"}``; ``{"type": "auth", "token": ...}``
renews the token of an open socket (→ ``{"type": "auth.ok"}``; a bad or missing token closes it
with 4401). The socket is closed with 4401 when the token it was opened with expires and no new
one was sent, and within :attr:`Hub.recheck_seconds` when that token stops being valid otherwise
(the user is disabled, logs out, changes password: the hub authenticates it again periodically).
A user may hold at most :attr:`Hub.max_connections_per_user` open sockets in this process; one
more is closed with **1008** right after authentication. Other JSON objects are
ignored (a newer client's messages); anything that is not a JSON object (binary junk, broken
JSON) closes the socket with **1008**, and a message larger than :data:`MAX_MESSAGE_BYTES` with
**1009**, before or after authentication.

Liveness: uvicorn sends WebSocket protocol pings (``ws_ping_interval``/``ws_ping_timeout``,
20 s each by default) and drops peers that do not answer; browsers answer them automatically but
cannot see them, so the hub also sends ``{"type": "heartbeat"}`` after :attr:`Hub.heartbeat_seconds`
without any other message, for scripts that want to detect a dead connection themselves.

Slow clients: see :class:`ClientQueue`. A client so far behind that even its queue of essential
events overflows is closed with **4429**; it reconnects with its last event id and the replay fills
the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from prometheus_client import Counter, Gauge
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from magflow.realtime.bus import EventBus
from magflow.realtime.events import Event, is_progress, normalize_id, run_key

log = logging.getLogger(__name__)

SnapshotProvider = Callable[[], Awaitable[list[dict[str, Any]]]]

CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_TOO_SLOW: Final = 4429
CLOSE_UNAVAILABLE: Final = 1011
CLOSE_GOING_AWAY: Final = 1001
#: The largest message a client may send (an auth message with a token is well under 1 KiB).
MAX_MESSAGE_BYTES: Final = 64 * 1024

WEBSOCKET_CLIENTS = Gauge(
    "magflow_websocket_clients", "Authenticated WebSocket clients connected.", ["route"]
)
WEBSOCKET_SHED = Counter(
    "magflow_websocket_events_shed_total",
    "Events not sent to a slow WebSocket client: 'coalesced' (a newer progress of the same run "
    "replaced it), 'dropped' (progress with no room), 'overflow' (client closed with 4429).",
    ["route", "reason"],
)


async def no_snapshot() -> list[dict[str, Any]]:
    return []


@dataclass(frozen=True)
class Principal:
    user_id: int
    role: str
    expires_at: datetime | None = None


class AuthFailedError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class MessageTooBigError(AuthFailedError):
    """A client message over :data:`MAX_MESSAGE_BYTES`: the socket is closed with 1009."""


Authenticator = Callable[[str], Awaitable[Principal]]


@dataclass(frozen=True)
class Route:
    """A WebSocket flavour: its metric label, which events it wants, and whether it snapshots."""

    name: str
    prefixes: tuple[str, ...] | None
    snapshot: bool

    def wants(self, event_type: str) -> bool:
        return self.prefixes is None or event_type.startswith(self.prefixes)


SYNC_PROGRESS = Route("sync-progress", ("sync.", "bulk."), snapshot=True)
SYNC_EVENTS = Route("sync-events", None, snapshot=False)


class Item(NamedTuple):
    event: Event
    text: str


class ClientQueue:
    """The events waiting for one client; never blocks the publisher.

    Up to ``maxsize`` items are simply queued. When full:

    - an incoming progress event replaces the queued progress of the same run (coalescing: the
      client skips intermediate states but still gets the latest one, in order with the run's
      other events); before giving up, superseded progress events in the whole queue are removed;
      a progress event with still no room is dropped (the next one, or the run's terminal event,
      carries the state anyway);
    - anything else (terminal, milestone, started, ...) is kept beyond ``maxsize``, up to
      ``overflow_limit``; past that the client is marked :attr:`overflowed` and must be closed.
    """

    def __init__(self, maxsize: int = 256, overflow_limit: int = 4096) -> None:
        self.maxsize = maxsize
        self.overflow_limit = max(overflow_limit, maxsize)
        self._items: deque[Item] = deque()
        self._ready = asyncio.Event()
        self.coalesced = 0
        self.dropped = 0
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item) -> None:
        if self.overflowed:
            return
        if len(self._items) >= self.maxsize:
            if is_progress(item.event["type"]) and not self._make_room_for_progress(item):
                self.dropped += 1
                return
            if len(self._items) >= self.overflow_limit:
                self.overflowed = True
                self._items.clear()
                self._ready.set()
                return
        self._items.append(item)
        self._ready.set()

    def _make_room_for_progress(self, item: Item) -> bool:
        key = run_key(item.event)
        if key is not None:
            for queued in self._items:
                if is_progress(queued.event["type"]) and run_key(queued.event) == key:
                    self._items.remove(queued)
                    self.coalesced += 1
                    return True
        self._compact()
        return len(self._items) < self.maxsize

    def _compact(self) -> None:
        """Keep only the newest queued progress event of each run."""
        seen: set[tuple[str, int]] = set()
        kept: deque[Item] = deque()
        for queued in reversed(self._items):
            key = run_key(queued.event) if is_progress(queued.event["type"]) else None
            if key is not None:
                if key in seen:
                    self.coalesced += 1
                    continue
                seen.add(key)
            kept.appendleft(queued)
        self._items = kept

    def get_nowait(self) -> Item | None:
        if self._items:
            return self._items.popleft()
        self._ready.clear()
        return None

    async def get(self, timeout: float | None) -> Item | None:  # noqa: ASYNC109
        """The next item, or None after ``timeout`` seconds (or when overflowed).

        A timeout argument rather than the caller's ``asyncio.timeout``: timing out is the normal
        way to learn that it is time for a heartbeat, not an error."""
        item = self.get_nowait()
        if item is not None or self.overflowed:
            return None if self.overflowed else item
        # A timer that sets the event, not ``asyncio.timeout``: every live event wakes every
        # waiting sender, and a Timeout context (a task lookup, a reschedule, the cancellation
        # bookkeeping on exit) cost a sixth of the hub's CPU at 1,000 clients (py-spy,
        # BENCHMARKS.md "load.py"); a timer handle is one heap entry, cancelled on wake-up.
        timer = (
            asyncio.get_running_loop().call_later(timeout, self._ready.set)
            if timeout is not None
            else None
        )
        try:
            await self._ready.wait()
        finally:
            if timer is not None:
                timer.cancel()
        if self.overflowed:
            return None
        # Woken with nothing queued: the timer fired (put() only sets the event with an item).
        return self.get_nowait()


class Client:
    def __init__(
        self, websocket: WebSocket, route: Route, principal: Principal, queue: ClientQueue
    ) -> None:
        self.websocket = websocket
        self.route = route
        self.principal = principal
        self.queue = queue
        self.last_sent_id = ""
        #: The token the client last authenticated with (re-checked periodically).
        self.token = ""
        #: How that token is checked again (see :meth:`Hub.recheck`).
        self.authenticate: Authenticator | None = None
        #: Set by :meth:`Hub.recheck` to ``(code, reason)`` when the token stopped being valid.
        self.revoked: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message, default=str)
        async with self._send_lock:
            await self.websocket.send_text(text)


def _dumps(event: Event) -> str:
    return json.dumps(event, separators=(",", ":"), default=str)


#: Clients an event is queued for per turn of the event loop (see :meth:`Hub.dispatch`).
FANOUT_BATCH = 50


class _Fanout:
    """An event on its way to the clients connected when it arrived."""

    def __init__(self, event: Event, clients: list[Client]) -> None:
        self.event = event
        self.clients = clients
        self.next = 0
        self.text: str | None = None

    @property
    def done(self) -> bool:
        return self.next >= len(self.clients)

    def deliver(self, budget: int) -> int:
        """Queue the event for up to ``budget`` more clients; returns the budget left."""
        end = min(len(self.clients), self.next + budget)
        event_type = self.event["type"]
        for client in self.clients[self.next : end]:
            if client.route.wants(event_type):
                if self.text is None:
                    self.text = _dumps(self.event)
                client.queue.put(Item(self.event, self.text))
        budget -= end - self.next
        self.next = end
        return budget


class Hub:
    """Connected WebSocket clients of this process and the bus listener that feeds them."""

    def __init__(
        self,
        bus: EventBus,
        *,
        queue_size: int = 256,
        overflow_limit: int = 4096,
        heartbeat_seconds: float = 25.0,
        auth_timeout: float = 5.0,
        snapshot_provider: SnapshotProvider = no_snapshot,
        recheck_seconds: float = 2.0,
        max_connections_per_user: int = 20,
    ) -> None:
        self.bus = bus
        self.recheck_seconds = recheck_seconds
        self.max_connections_per_user = max_connections_per_user
        self.queue_size = queue_size
        self.overflow_limit = overflow_limit
        self.heartbeat_seconds = heartbeat_seconds
        self.auth_timeout = auth_timeout
        # Set by the sync engine's wiring: the running runs, as the REST sync-progress shows them.
        self.snapshot_provider: SnapshotProvider = snapshot_provider
        self._clients: set[Client] = set()
        self._fanout: deque[_Fanout] = deque()
        self._remove_listener: Callable[[], None] | None = None
        self._rechecker: asyncio.Task[None] | None = None
        #: The routes' authenticator, made once per hub (see ``realtime.routes._serve``).
        self.authenticator: Authenticator | None = None

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def start(self) -> None:
        """Listen to the bus (and start its reader). Call from the app's lifespan."""
        if self._remove_listener is None:
            self._remove_listener = self.bus.add_listener(self.dispatch)
        await self.bus.start()

    async def stop(self) -> None:
        """Stop listening and close every client with 1001 (going away)."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._rechecker is not None:
            self._rechecker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rechecker
            self._rechecker = None
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await client.websocket.close(CLOSE_GOING_AWAY, "server shutting down")

    def dispatch(self, event: Event) -> None:
        """The bus listener: queue ``event`` for every client that wants it. Never blocks.

        :data:`FANOUT_BATCH` clients at a time, one batch per turn of the event loop (the
        first one at once): queueing an event wakes the client's sender, and a thousand senders
        woken in one turn held the loop for tens of milliseconds, which every HTTP request
        arriving then waited through (``bench/load.py`` at 2x its capacity: shed requests' p95
        47 ms with 1,000 clients, 13 ms with none). Events reach each client in order: a batch
        of one event ends before the next event's first."""
        self._fanout.append(_Fanout(event, list(self._clients)))
        if len(self._fanout) == 1:
            self._pump()

    def _pump(self) -> None:
        budget = FANOUT_BATCH
        while self._fanout and budget > 0:
            fanout = self._fanout[0]
            budget = fanout.deliver(budget)
            if fanout.done:
                self._fanout.popleft()
        if self._fanout:
            asyncio.get_running_loop().call_soon(self._pump)

    async def serve(
        self,
        websocket: WebSocket,
        route: Route,
        authenticate: Authenticator,
        *,
        token: str | None = None,
        last_event_id: str | None = None,
    ) -> None:
        """Run one WebSocket connection to its end (the route handler awaits this)."""
        await websocket.accept()
        try:
            principal, last_event_id, token = await self._authenticate(
                websocket, authenticate, token, last_event_id
            )
        except AuthFailedError as exc:
            await websocket.close(exc.code, exc.reason)
            return
        except WebSocketDisconnect:
            return
        # Counted and registered with no await in between: parallel connects cannot overshoot.
        open_sockets = sum(1 for c in self._clients if c.principal.user_id == principal.user_id)
        if open_sockets >= self.max_connections_per_user:
            await websocket.close(
                CLOSE_POLICY,
                f"too many connections for this user (at most {self.max_connections_per_user})",
            )
            return
        client = Client(
            websocket, route, principal, ClientQueue(self.queue_size, self.overflow_limit)
        )
        client.token = token
        client.authenticate = authenticate
        if self._rechecker is None or self._rechecker.done():
            self._rechecker = asyncio.create_task(self._recheck_loop())
        # Registered before the replay is read, so that no event falls between the two; the
        # sender skips live events the replay already sent (ids are ordered).
        self._clients.add(client)
        WEBSOCKET_CLIENTS.labels(route.name).inc()
        try:
            await client.send(
                {
                    "type": "hello",
                    "route": route.name,
                    "user_id": principal.user_id,
                    "role": principal.role,
                    "heartbeat_seconds": self.heartbeat_seconds,
                }
            )
            if route.snapshot:
                await client.send({"type": "snapshot", "runs": await self._snapshot()})
            if last_event_id:
                await self._replay(client, last_event_id)
            await self._run(client, authenticate)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the peer went away (RuntimeError: sending after the close was received)
        finally:
            self._clients.discard(client)
            WEBSOCKET_CLIENTS.labels(route.name).dec()
            WEBSOCKET_SHED.labels(route.name, "coalesced").inc(client.queue.coalesced)
            WEBSOCKET_SHED.labels(route.name, "dropped").inc(client.queue.dropped)

    async def _authenticate(
        self,
        websocket: WebSocket,
        authenticate: Authenticator,
        token: str | None,
        last_event_id: str | None,
    ) -> tuple[Principal, str | None, str]:
        if not token:
            try:
                async with asyncio.timeout(self.auth_timeout):
                    message = await _receive(websocket)
            except TimeoutError:
                raise AuthFailedError(CLOSE_UNAUTHORIZED, "authentication timed out") from None
            payload = _parse(message) or {}
            if payload.get("type") != "auth" or not isinstance(payload.get("token"), str):
                raise AuthFailedError(
                    CLOSE_UNAUTHORIZED, "send ?token= or a first message of type auth"
                )
            token = payload["token"]
            if isinstance(payload.get("last_event_id"), str):
                last_event_id = payload["last_event_id"]
        assert token is not None
        return await authenticate(token), last_event_id, token

    async def _snapshot(self) -> list[dict[str, Any]]:
        try:
            return await self.snapshot_provider()
        except Exception:
            log.exception("the sync-progress snapshot provider failed")
            return []

    async def _replay(self, client: Client, last_event_id: str) -> None:
        try:
            after = normalize_id(last_event_id)
        except ValueError:
            await client.send({"type": "error", "detail": "last_event_id is not an event id"})
            return
        replay = await self.bus.replay(after)
        count = 0
        for event in replay.events:
            if client.route.wants(event["type"]):
                await client.send(_dumps(event))
                count += 1
            client.last_sent_id = event["id"]
        if not client.last_sent_id:
            client.last_sent_id = after
        await client.send({"type": "replay", "count": count, "complete": replay.complete})

    async def _run(self, client: Client, authenticate: Authenticator) -> None:
        sender = asyncio.create_task(self._send_loop(client))
        receiver = asyncio.create_task(self._receive_loop(client, authenticate))
        tasks = (sender, receiver)
        try:
            done, _ = await asyncio.wait(
                (*tasks, client.revoked), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if client.revoked in done:
            code, reason = client.revoked.result()
            await self._close(client, code, reason)
            return
        for finished in done:
            if not finished.cancelled() and finished.exception() is not None:
                raise finished.exception()  # type: ignore[misc]

    async def _send_loop(self, client: Client) -> None:
        while True:
            timeout = self.heartbeat_seconds
            expires_at = client.principal.expires_at
            if expires_at is not None:
                left = (expires_at - datetime.now(UTC)).total_seconds()
                if left <= 0:
                    await self._close(client, CLOSE_UNAUTHORIZED, "token expired")
                    return
                timeout = min(timeout, left)
            item = await client.queue.get(timeout)
            if client.queue.overflowed:
                WEBSOCKET_SHED.labels(client.route.name, "overflow").inc()
                await self._close(client, CLOSE_TOO_SLOW, "too far behind; reconnect and replay")
                return
            if item is None:
                if expires_at is None or expires_at > datetime.now(UTC):
                    await client.send({"type": "heartbeat"})
                continue
            if item.event["id"] <= client.last_sent_id:
                continue  # already sent by the replay
            await client.send(item.text)
            client.last_sent_id = item.event["id"]

    async def _recheck_loop(self) -> None:
        """:meth:`recheck` every :attr:`recheck_seconds`, while the hub runs."""
        while True:
            await asyncio.sleep(self.recheck_seconds)
            try:
                await self.recheck()
            except Exception:  # never let the loop die: the next round checks again
                log.warning("re-checking the WebSocket tokens failed", exc_info=True)

    async def recheck(self) -> None:
        """Authenticate every open socket's token again: a token that was revoked (logout,
        password change) or whose user was disabled closes its sockets (4401).

        Each distinct token is checked **once** per round, however many sockets carry it: a
        dashboard's tabs, or the 1,000 clients of the fan-out benchmark, share one or a few
        tokens. One check per socket (a task each, waking every :attr:`recheck_seconds`) was a
        database session per socket per round, 500 a second per process at 1,000 sockets,
        more CPU than the fan-out itself (BENCHMARKS.md, "ws_fanout.py")."""
        groups: dict[tuple[Authenticator, str], list[Client]] = {}
        for client in self._clients:
            if client.authenticate is not None and not client.revoked.done():
                groups.setdefault((client.authenticate, client.token), []).append(client)
        for (authenticate, token), clients in groups.items():
            try:
                principal = await authenticate(token)
            except AuthFailedError as exc:
                for client in clients:
                    # A socket that renewed its token meanwhile is checked with the new one.
                    if client.token == token and not client.revoked.done():
                        client.revoked.set_result((exc.code, exc.reason))
                continue
            except Exception:  # the database hiccuped: keep the sockets, check again later
                log.warning("re-checking a WebSocket token failed", exc_info=True)
                continue
            for client in clients:
                if client.token == token:
                    client.principal = principal

    async def _receive_loop(self, client: Client, authenticate: Authenticator) -> None:
        while True:
            try:
                payload = _parse(await _receive(client.websocket))
            except MessageTooBigError as exc:
                await self._close(client, exc.code, exc.reason)
                return
            if payload is None:
                await self._close(client, CLOSE_POLICY, "messages must be JSON objects")
                return
            kind = payload.get("type")
            if kind == "ping":
                await client.send({"type": "pong"})
            elif kind == "auth":
                try:
                    token = payload.get("token")
                    if not isinstance(token, str):
                        raise AuthFailedError(CLOSE_UNAUTHORIZED, "an auth message needs a token")
                    client.principal = await authenticate(token)
                    client.token = token
                except AuthFailedError as exc:
                    await self._close(client, exc.code, exc.reason)
                    return
                await client.send({"type": "auth.ok"})

    async def _close(self, client: Client, code: int, reason: str) -> None:
        """Close, without waiting forever on a peer that has stopped reading."""
        if client.websocket.application_state is WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await client.websocket.close(code, reason)


async def _receive(websocket: WebSocket) -> str:
    """The next text (or UTF-8 binary) message; raises WebSocketDisconnect at the end, and
    MessageTooBigError for a message over :data:`MAX_MESSAGE_BYTES`."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    if message.get("text") is not None:
        text = str(message["text"])
        size = len(text) if len(text) * 4 <= MAX_MESSAGE_BYTES else len(text.encode())
    else:
        data = bytes(message.get("bytes") or b"")
        size = len(data)
        text = data.decode("utf-8", "replace") if size <= MAX_MESSAGE_BYTES else ""
    if size > MAX_MESSAGE_BYTES:
        limit = f"messages are limited to {MAX_MESSAGE_BYTES} bytes"
        raise MessageTooBigError(CLOSE_TOO_BIG, limit)
    return text


def _parse(message: str) -> dict[str, Any] | None:
    """The message as a JSON object, or None when it is not one."""
    try:
        payload = json.loads(message)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None
    return payload if isinstance(payload, dict) else None
