"""Per-account rate limiting of eMAG calls (docs/emag-protocol.md, "Rate and size limits"),
in-process or shared through Redis.

Limits (docs/emag-protocol.md, "Rate and size limits"): order routes 12 req/s and 720 req/min;
everything else 3 req/s and 180 req/min, counted together; ``documentation/find_by_eans`` 5 req/s,
200 req/min and 5000 req/day. Invalid requests count too
(docs/emag-protocol.md, "Rate and size limits"), so every attempt, retries included, takes a slot.

How it paces
------------
eMAG's gateway (Kong) counts requests in FIXED windows aligned to the wall-clock second and minute
of the server. We do not know the server's clock, so we keep a *sliding-window log* of send times
per (account, bucket) and grant a slot only when fewer than ``limit`` sends happened in the last
``window + margin`` seconds, for every window of the bucket. Any fixed 1-second window, whatever
its alignment, lies inside some sliding window of 1 s + margin, so the server can never count more
than ``limit`` in one of its windows as long as the transit jitter between two requests stays under
``margin`` (default 50 ms). The cost is a throughput of ``limit / (1 + margin)`` per second, 95 %
of the allowed rate with the default margin; the minute windows (``60 s + margin``) do not bind for
the order/other buckets because 12/1.05 s · 60 < 720.

The time recorded is the moment a slot is granted, and the client asks for the slot immediately
before handing the request to httpx (see ``EmagClient._send``): a waiter re-checks and records the
time when it actually runs, after its sleep, so event-loop lag delays the grant instead of
squeezing two sends together. The remaining gap (httpx building the request, the pool opening a
connection, the socket write) is closed by :meth:`RateLimiter.confirm`: httpcore's trace hook
tells the client when the request headers are really written, and a send that left more than
2 ms after its grant is re-recorded at that time. Grants are also spaced (``spacing``) so a burst
of grants does not queue up in the event loop. ``stats.max_send_lag`` shows the largest gap seen.

After a 429 the client calls :meth:`RateLimiter.pause` and the whole bucket of that account waits
until the server's window has surely turned over (see ``EmagClient``), in every process that
shares the limiter.

Two implementations behind one interface: :class:`InMemoryRateLimiter` (asyncio, shared by every
task and thread of a process) and :class:`RedisRateLimiter` (an atomic Lua script on sorted sets
keyed by account and bucket, using the Redis server's ``TIME`` so every process shares one clock).
Use :func:`make_rate_limiter`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("magflow.emag.ratelimit")

DEFAULT_MARGIN = 0.05
DEFAULT_SPACING = 0.5
# A send that leaves less than this after its grant is not worth re-recording.
CONFIRM_THRESHOLD = 0.002


class Bucket(StrEnum):
    """Rate-limit buckets of one account (docs/emag-protocol.md, "Rate and size limits")."""

    ORDER = "order"
    OTHER = "other"
    EAN = "ean"


@dataclass(frozen=True)
class Window:
    """At most ``limit`` requests per ``seconds``."""

    limit: int
    seconds: float


Limits = Mapping[Bucket, tuple[Window, ...]]

DEFAULT_LIMITS: dict[Bucket, tuple[Window, ...]] = {
    Bucket.ORDER: (Window(12, 1.0), Window(720, 60.0)),
    Bucket.OTHER: (Window(3, 1.0), Window(180, 60.0)),
    Bucket.EAN: (Window(5, 1.0), Window(200, 60.0), Window(5000, 86400.0)),
}


def bucket_for_route(route: str) -> Bucket:
    """The one place that maps a route to its bucket
    (docs/emag-protocol.md, "Rate and size limits").

    Order routes are the resource ``order`` and all its sub-routes (``order/read``,
    ``order/acknowledge/{id}``, ``order/attachments/save``, ``order/{id}/unlock-courier``...);
    ``documentation/find_by_eans`` has its own bucket; every other route shares ``other``.
    """
    path = route.split("?", 1)[0].strip("/")
    if "api-3/" in path:  # a full URL or path was given
        path = path.split("api-3/", 1)[1]
    if path == "order" or path.startswith("order/"):
        return Bucket.ORDER
    if path.startswith("documentation/find_by_eans"):
        return Bucket.EAN
    return Bucket.OTHER


@dataclass
class Grant:
    """A slot granted by :meth:`RateLimiter.acquire_slot`.

    ``local_at`` is ``time.monotonic()`` at the grant; ``stamp`` the time recorded in the log
    (monotonic seconds in process, Redis ``TIME`` in µs); ``member`` the log entry (Redis).
    """

    account_key: str
    bucket: Bucket
    waited: float
    local_at: float
    stamp: float
    member: str = ""


class RateLimiter(ABC):
    """Grants send slots per (account, bucket). Shared by every client of a process.

    ``spacing`` smooths bursts: consecutive grants of a bucket are at least
    ``spacing * (window + margin) / limit`` apart for its shortest window (0.5 → 44 ms at
    12 req/s). It costs no throughput (the sliding window still binds) but keeps a burst of grants
    from queueing behind each other in the event loop, which would delay the first sends of a
    window relative to the next window's.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        margin: float = DEFAULT_MARGIN,
        spacing: float = DEFAULT_SPACING,
    ) -> None:
        self.limits: dict[Bucket, tuple[Window, ...]] = dict(limits or DEFAULT_LIMITS)
        self.margin = margin
        self.spacing = spacing

    def windows(self, bucket: Bucket) -> tuple[Window, ...]:
        return self.limits[bucket]

    def min_gap(self, bucket: Bucket) -> float:
        """Smallest time between two grants: ``spacing`` times the average gap of the shortest
        window (the per-second one; the minute/day windows are budgets, not a pace)."""
        shortest = min(self.limits[bucket], key=lambda w: w.seconds)
        return self.spacing * (shortest.seconds + self.margin) / shortest.limit

    async def acquire(self, account_key: str, bucket: Bucket) -> float:
        """Wait for a slot and record the send; returns the seconds spent waiting."""
        return (await self.acquire_slot(account_key, bucket)).waited

    @abstractmethod
    async def acquire_slot(self, account_key: str, bucket: Bucket) -> Grant:
        """Wait for a slot and record the send at the moment of the grant."""

    def confirm(self, grant: Grant, sent_at: float) -> None:  # noqa: B027 - optional hook
        """Move the recorded send time to the real one (``sent_at``, ``time.monotonic()``), when
        the request left noticeably later than granted (a new connection, a busy loop). Called
        by the client from httpcore's trace hook as the request headers are written."""

    @abstractmethod
    async def pause(self, account_key: str, bucket: Bucket, seconds: float) -> None:
        """Grant nothing in this bucket for ``seconds`` (never shortens a longer pause)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources (a Redis connection the limiter owns)."""


@dataclass
class _Log:
    stamps: deque[float] = field(default_factory=deque)
    paused_until: float = 0.0
    last_grant: float = float("-inf")


class InMemoryRateLimiter(RateLimiter):
    """Sliding-window log per (account, bucket) on ``time.monotonic``.

    Holds no asyncio objects, so one instance serves every task, event loop and thread of the
    process (a ``threading.Lock`` guards the check-and-record).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        margin: float = DEFAULT_MARGIN,
        spacing: float = DEFAULT_SPACING,
    ) -> None:
        super().__init__(limits, margin, spacing)
        self._logs: dict[tuple[str, Bucket], _Log] = {}
        self._lock = threading.Lock()

    def _try(self, key: tuple[str, Bucket], now: float) -> float:
        """Record a send at ``now`` and return 0, or return the seconds to wait."""
        entry = self._logs.get(key)
        if entry is None:
            entry = self._logs[key] = _Log()
        if entry.paused_until > now:
            return entry.paused_until - now
        windows = self.limits[key[1]]
        longest = max(w.seconds for w in windows) + self.margin
        stamps = entry.stamps
        while stamps and stamps[0] <= now - longest:
            stamps.popleft()
        wait = entry.last_grant + self.min_gap(key[1]) - now
        count = len(stamps)
        for window in windows:
            if count >= window.limit:
                oldest_blocking = stamps[count - window.limit]
                wait = max(wait, oldest_blocking + window.seconds + self.margin - now)
        if wait > 0:
            return wait
        stamps.append(now)
        entry.last_grant = now
        return 0.0

    async def acquire_slot(self, account_key: str, bucket: Bucket) -> Grant:
        start = time.monotonic()
        key = (account_key, bucket)
        while True:
            with self._lock:
                now = time.monotonic()
                wait = self._try(key, now)
            if wait <= 0:
                return Grant(account_key, bucket, now - start, now, now)
            await asyncio.sleep(wait)

    def confirm(self, grant: Grant, sent_at: float) -> None:
        lag = sent_at - grant.local_at
        if lag < CONFIRM_THRESHOLD:
            return
        with self._lock:
            entry = self._logs.get((grant.account_key, grant.bucket))
            if entry is None:
                return
            stamps = entry.stamps
            for i in range(len(stamps) - 1, -1, -1):
                if stamps[i] == grant.stamp:
                    stamps[i] = grant.stamp + lag
                    if i + 1 < len(stamps) and stamps[i + 1] < stamps[i]:
                        entry.stamps = deque(sorted(stamps))
                    entry.last_grant = max(entry.last_grant, grant.stamp + lag)
                    break

    async def pause(self, account_key: str, bucket: Bucket, seconds: float) -> None:
        with self._lock:
            entry = self._logs.setdefault((account_key, bucket), _Log())
            entry.paused_until = max(entry.paused_until, time.monotonic() + seconds)


# KEYS[1] = log (sorted set: member → send time in µs), KEYS[2] = pause flag (PX ttl)
# ARGV[1] = unique member, ARGV[2] = margin µs, ARGV[3] = min gap µs,
# ARGV[4..] = pairs (limit, window µs)
# Returns {1, now_us} when granted, {0, wait_us} otherwise.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pttl = redis.call('PTTL', KEYS[2])
if pttl > 0 then
  return {0, pttl * 1000}
end
local margin = tonumber(ARGV[2])
local longest = 0
for i = 4, #ARGV, 2 do
  local span = tonumber(ARGV[i + 1]) + margin
  if span > longest then longest = span end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
local count = redis.call('ZCARD', KEYS[1])
local wait = 0
local gap = tonumber(ARGV[3])
if gap > 0 and count > 0 then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  wait = tonumber(last[2]) + gap - now
end
for i = 4, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local span = tonumber(ARGV[i + 1]) + margin
  if count >= limit then
    local e = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
    local w = tonumber(e[2]) + span - now
    if w > wait then wait = w end
  end
end
if wait > 0 then
  return {0, math.ceil(wait)}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(longest / 1000) + 1000)
return {1, now}
"""

# KEYS[1] = pause flag, ARGV[1] = pause ms; only ever lengthens the pause.
_PAUSE_LUA = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return 1
"""


class RedisRateLimiter(RateLimiter):
    """The same sliding-window log in Redis, shared by every process using the same server and
    prefix. One atomic Lua script per attempt trims, checks every window and records the send with
    the server's ``TIME`` (so process clocks do not matter); a waiter sleeps exactly until the
    blocking entry expires and tries again.

    Keys: ``{prefix}:emag:rl:{<account_key>:<bucket>}`` (sorted set) and ``…:pause``; the hash tag
    keeps both in one cluster slot. If Redis fails, the call falls back to an in-process limiter
    with the same limits (logged), so a Redis hiccup slows nothing down and loses no request.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "magflow",
        limits: Limits | None = None,
        margin: float = DEFAULT_MARGIN,
        spacing: float = DEFAULT_SPACING,
        owns_client: bool = False,
    ) -> None:
        super().__init__(limits, margin, spacing)
        self.redis = redis
        self.prefix = prefix
        self._owns_client = owns_client
        self._acquire_script = redis.register_script(_ACQUIRE_LUA)
        self._pause_script = redis.register_script(_PAUSE_LUA)
        self._fallback = InMemoryRateLimiter(limits, margin, spacing)
        self._last_warning = 0.0
        self._inflight: set[asyncio.Future[Any]] = set()
        self._pollers: dict[tuple[int, str, Bucket], asyncio.Lock] = {}

    def keys(self, account_key: str, bucket: Bucket) -> tuple[str, str]:
        base = f"{self.prefix}:emag:rl:{{{account_key}:{bucket.value}}}"
        return base, f"{base}:pause"

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 60:
            self._last_warning = now
            log.warning("Redis rate limiter unavailable, pacing in-process: %s", exc)

    async def acquire_slot(self, account_key: str, bucket: Bucket) -> Grant:
        start = time.monotonic()
        keys = list(self.keys(account_key, bucket))
        member = f"{time.time_ns()}:{secrets.token_hex(6)}"
        args: list[Any] = [member, int(self.margin * 1e6), int(self.min_gap(bucket) * 1e6)]
        for window in self.limits[bucket]:
            args += [window.limit, int(window.seconds * 1e6)]
        # One poller per (event loop, account, bucket) in this process: local waiters queue
        # FIFO behind it instead of all hitting Redis when a slot frees (a thundering herd whose
        # replies would delay the winner's send).
        poller = self._pollers.setdefault(
            (id(asyncio.get_running_loop()), account_key, bucket), asyncio.Lock()
        )
        async with poller:
            return await self._poll(account_key, bucket, keys, args, member, start)

    async def _poll(
        self,
        account_key: str,
        bucket: Bucket,
        keys: list[str],
        args: list[Any],
        member: str,
        start: float,
    ) -> Grant:
        while True:
            try:
                granted, value = await self._shielded(self._acquire_script(keys=keys, args=args))
            except RedisError as exc:
                self._warn(exc)
                grant = await self._fallback.acquire_slot(account_key, bucket)
                grant.waited = time.monotonic() - start
                return grant
            if int(granted) == 1:
                now = time.monotonic()
                return Grant(account_key, bucket, now - start, now, float(value), member)
            await asyncio.sleep(int(value) / 1e6 + 0.0005)

    def confirm(self, grant: Grant, sent_at: float) -> None:
        """Re-score the entry at the real send time, in the background (``ZADD XX``: only if it
        is still there). The Redis clock is extrapolated from the grant's ``TIME``."""
        lag = sent_at - grant.local_at
        if not grant.member:
            self._fallback.confirm(grant, sent_at)
            return
        if lag < CONFIRM_THRESHOLD:
            return
        key = self.keys(grant.account_key, grant.bucket)[0]
        score = grant.stamp + int(lag * 1e6)
        task = asyncio.ensure_future(self.redis.zadd(key, {grant.member: score}, xx=True))
        self._inflight.add(task)
        task.add_done_callback(self._confirmed)

    def _confirmed(self, task: asyncio.Future[Any]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("rate limiter confirm failed: %s", task.exception())

    async def _shielded(self, call: Awaitable[Any]) -> Any:
        """Run a Redis call in its own task, shielded from cancellation of the caller.

        Cancelling a task in the middle of a redis-py command can leave it hanging (seen with
        redis-py 8.1); the sync engine cancels tasks routinely (TaskGroup siblings, timeouts), so
        the caller is released at once while the command itself completes in the background (at
        worst one granted slot goes unused).
        """
        task = asyncio.ensure_future(call)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def pause(self, account_key: str, bucket: Bucket, seconds: float) -> None:
        await self._fallback.pause(account_key, bucket, seconds)
        try:
            await self._shielded(
                self._pause_script(
                    keys=[self.keys(account_key, bucket)[1]], args=[max(1, int(seconds * 1000))]
                )
            )
        except RedisError as exc:
            self._warn(exc)

    async def aclose(self) -> None:
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._owns_client:
            await self.redis.aclose()


_process_limiter: InMemoryRateLimiter | None = None
_process_lock = threading.Lock()


def process_rate_limiter() -> InMemoryRateLimiter:
    """The process-wide in-process limiter with the eMAG limits (one per process)."""
    global _process_limiter
    with _process_lock:
        if _process_limiter is None:
            _process_limiter = InMemoryRateLimiter()
        return _process_limiter


def make_rate_limiter(
    redis_url: str | None,
    *,
    prefix: str = "magflow",
    limits: Limits | None = None,
    margin: float = DEFAULT_MARGIN,
    spacing: float = DEFAULT_SPACING,
) -> RateLimiter:
    """A Redis limiter when ``redis_url`` is set (shared by all processes), else the in-process one.

    Without Redis and with the default limits and margin, every call returns the same
    process-wide instance, so all clients of one account in this process share one budget. Create
    the Redis one once per process (it owns its connection pool; ``aclose()`` it at shutdown).
    """
    if redis_url:
        return RedisRateLimiter(
            Redis.from_url(redis_url),
            prefix=prefix,
            limits=limits,
            margin=margin,
            spacing=spacing,
            owns_client=True,
        )
    if limits is None and margin == DEFAULT_MARGIN and spacing == DEFAULT_SPACING:
        return process_rate_limiter()
    return InMemoryRateLimiter(limits, margin, spacing)
