"""The event bus: one interface, an in-process implementation and a Redis one.

Choice: **Redis Streams**, not pub/sub. Every event is ``XADD``-ed to one stream,
``<redis_prefix>:events``, capped with ``MAXLEN ~ replay_size``. This gives, for free:

- ids that are unique and monotonic across every process (the stream entry id; see
  :mod:`magflow.realtime.events` for the sortable spelling);
- the bounded replay buffer (``XRANGE (<last id> +``), so a client reconnecting with its last
  event id gets what it missed, whichever API process it reconnects to;
- no loss between reads: each API process runs one reader task doing ``XREAD BLOCK`` from the last
  id it has seen, so events published while it was busy (or briefly disconnected from Redis) are
  read on the next call. With pub/sub they would be gone.

Publishing needs no reader: a worker process builds the bus, publishes, and never calls
:meth:`EventBus.start`. Subscribers (the WebSocket hub) live in API processes, which call
``start()``. Listeners run in the event loop that runs the reader (Redis) or that publishes
(in-process), so they must be quick and must not block: the hub only puts into per-client queues.

The in-process bus keeps the same semantics in one process (ids from
:class:`~magflow.realtime.events.EventIdGenerator`, a ``deque`` as replay buffer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from redis.asyncio import Redis

from magflow.realtime.events import (
    Event,
    EventIdGenerator,
    normalize_id,
    parse_id,
    stream_id,
)
from magflow.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_REPLAY_SIZE: Final = 1000
Listener = Callable[[Event], None]


@dataclass(frozen=True)
class Replay:
    """Events after a given id, oldest first. ``complete`` is False when some events after that
    id have already left the bounded buffer (the client should then reload its state, e.g. from
    ``GET /api/v1/emag/enhanced/products/sync-progress``)."""

    events: list[Event]
    complete: bool


class Subscription:
    """A bounded queue of every event published after it was opened; an async iterator.

    Generic consumers use this; when the consumer falls more than ``maxsize`` events behind, the
    oldest are dropped (counted in :attr:`dropped`) so the publisher is never held back. The
    WebSocket hub does not use it: it has its own per-client queues with coalescing.
    """

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0
        self._remove: Callable[[], None] | None = None

    def _put(self, event: Event) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def open(self) -> Subscription:
        if self._remove is None:
            self._remove = self._bus.add_listener(self._put)
        return self

    def close(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None

    async def get(self) -> Event:
        return await self._queue.get()

    async def __aenter__(self) -> Subscription:
        return self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()


class EventBus(ABC):
    """Publish events; deliver them to this process's listeners; replay recent ones."""

    def __init__(self, replay_size: int = DEFAULT_REPLAY_SIZE) -> None:
        if replay_size < 1:
            raise ValueError("replay_size must be at least 1")
        self.replay_size = replay_size
        self._listeners: list[Listener] = []

    @abstractmethod
    async def publish(self, event: Event) -> Event:
        """Publish ``event`` (its ``id`` is ignored) and return it with the id it was given."""

    @abstractmethod
    async def replay(self, after: str, limit: int | None = None) -> Replay:
        """Events with an id greater than ``after``, oldest first (at most ``limit``)."""

    async def start(self) -> None:  # noqa: B027 - optional hook; the in-process bus needs none
        """Start delivering events to listeners (only API processes need this)."""

    async def aclose(self) -> None:
        self._listeners.clear()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event from now on; returns the remover."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        """``async with bus.subscribe() as sub: async for event in sub: ...``"""
        return Subscription(self, maxsize)

    def _deliver(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed on %s", listener, event["id"])


class MemoryEventBus(EventBus):
    """Events stay in this process: the default, for the demo and single-process installs."""

    def __init__(self, replay_size: int = DEFAULT_REPLAY_SIZE) -> None:
        super().__init__(replay_size)
        self._ids = EventIdGenerator()
        self._buffer: deque[Event] = deque()
        # The id of the newest event that has left the buffer: replay after an older id is partial.
        self._evicted_up_to: str | None = None

    async def publish(self, event: Event) -> Event:
        stamped = Event(**{**event, "id": self._ids.next()})  # type: ignore[typeddict-item]
        self._buffer.append(stamped)
        if len(self._buffer) > self.replay_size:
            self._evicted_up_to = self._buffer.popleft()["id"]
        self._deliver(stamped)
        return stamped

    async def replay(self, after: str, limit: int | None = None) -> Replay:
        after = normalize_id(after)
        limit = limit or self.replay_size
        newer = [event for event in self._buffer if event["id"] > after]
        complete = self._evicted_up_to is None or after >= self._evicted_up_to
        if len(newer) > limit:
            newer, complete = newer[:limit], False
        return Replay(newer, complete)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisEventBus(EventBus):
    """Events in a Redis stream shared by every process (see the module docstring)."""

    FIELD: Final = "e"

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "magflow",
        replay_size: int = DEFAULT_REPLAY_SIZE,
        block_ms: int = 1000,
        owns_client: bool = False,
    ) -> None:
        super().__init__(replay_size)
        self.redis = redis
        self.key = f"{prefix}:events"
        self.block_ms = block_ms
        self._owns_client = owns_client
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "magflow", **kwargs: Any) -> RedisEventBus:
        return cls(Redis.from_url(url), prefix=prefix, owns_client=True, **kwargs)

    async def publish(self, event: Event) -> Event:
        body = {k: v for k, v in event.items() if k != "id"}
        raw_id = await self.redis.xadd(
            self.key,
            {self.FIELD: json.dumps(body, separators=(",", ":"), default=str)},
            maxlen=self.replay_size,
            approximate=True,
        )
        return Event(**{**event, "id": normalize_id(_text(raw_id))})  # type: ignore[typeddict-item]

    def _decode(self, raw_id: Any, fields: Any) -> Event | None:
        try:
            payload = fields.get(self.FIELD.encode()) or fields.get(self.FIELD)
            body = json.loads(payload)
            return Event(
                id=normalize_id(_text(raw_id)),
                type=str(body["type"]),
                run_id=body.get("run_id"),
                account_id=body.get("account_id"),
                ts=str(body.get("ts", "")),
                data=dict(body.get("data") or {}),
            )
        except (TypeError, ValueError, KeyError, AttributeError):
            log.warning("skipping malformed event %r in %s", raw_id, self.key)
            return None

    async def start(self) -> None:
        """Start the reader; it never fails start-up: while Redis is unreachable it keeps
        retrying (and ``/health`` names Redis), so the API still serves."""
        if self._reader is None:
            last: str | None = None
            try:  # known now, so nothing published after start() returns is missed
                last = await self._last_stream_id()
            except Exception:
                log.warning("Redis unreachable at start; the event reader keeps retrying")
            self._reader = asyncio.create_task(self._read(last), name=f"event-bus {self.key}")

    async def _last_stream_id(self) -> str:
        """Start reading after the newest entry (not ``$``: ``$`` re-read on every call would miss
        entries added between two reads)."""
        newest: Any = await self.redis.xrevrange(self.key, count=1)
        return _text(newest[0][0]) if newest else "0-0"

    async def _read(self, last: str | None) -> None:
        backoff = 0.2
        while True:
            try:
                if last is None:
                    last = await self._last_stream_id()
                response: Any = await self.redis.xread(
                    {self.key: last}, count=500, block=self.block_ms
                )
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "reading %s failed; retrying in %.1f s", self.key, backoff, exc_info=True
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for _stream, entries in response or []:
                for raw_id, fields in entries:
                    last = _text(raw_id)
                    event = self._decode(raw_id, fields)
                    if event is not None:
                        self._deliver(event)

    async def replay(self, after: str, limit: int | None = None) -> Replay:
        limit = limit or self.replay_size
        # One more than asked for tells whether there were more.
        entries: Any = await self.redis.xrange(
            self.key, min=f"({stream_id(after)}", max="+", count=limit + 1
        )
        events = [e for raw, f in entries[:limit] if (e := self._decode(raw, f)) is not None]
        complete = len(entries) <= limit and await self._nothing_trimmed_after(after)
        return Replay(events, complete)

    async def _nothing_trimmed_after(self, after: str) -> bool:
        """True unless entries newer than ``after`` have been trimmed from the stream.

        Redis 7 reports ``max-deleted-entry-id``; older servers only the first entry, which is a
        conservative stand-in (a gap is assumed when ``after`` is older than everything kept and
        the stream is at its cap)."""
        try:
            raw_info: Any = await self.redis.xinfo_stream(self.key)
        except Exception:  # no such stream: nothing was ever published, nothing trimmed
            return True
        info = {_text(k): v for k, v in raw_info.items()}
        deleted = info.get("max-deleted-entry-id")
        if deleted is not None:
            return parse_id(_text(deleted)) <= parse_id(after)
        first = info.get("first-entry")
        if not first or int(info.get("length", 0)) < self.replay_size:
            return True
        return parse_id(_text(first[0])) <= parse_id(after)

    async def aclose(self) -> None:
        await super().aclose()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self._owns_client:
            await self.redis.aclose()


def build_event_bus(
    settings: Settings, redis: Redis | None = None, *, replay_size: int = DEFAULT_REPLAY_SIZE
) -> EventBus:
    """Redis when ``MAGFLOW_REDIS_URL`` is set (sharing ``redis`` when given), else in-process."""
    if settings.redis_url:
        if redis is None:
            return RedisEventBus.from_url(
                settings.redis_url, prefix=settings.redis_prefix, replay_size=replay_size
            )
        return RedisEventBus(redis, prefix=settings.redis_prefix, replay_size=replay_size)
    return MemoryEventBus(replay_size)
