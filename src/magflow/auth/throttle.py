"""Login throttling: after N failed logins for one user within a window, refuse with 429.

In-process by default; in Redis when configured so that every API process sees one count.
Keys are the normalised email that was tried, whether or not such a user exists.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from typing import Protocol

from redis.asyncio import Redis


class LoginThrottle(Protocol):
    async def retry_after(self, key: str) -> int | None:
        """Seconds to wait before another attempt is allowed, or None when allowed now."""

    async def record_failure(self, key: str) -> None: ...

    async def reset(self, key: str) -> None: ...


class MemoryLoginThrottle:
    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _prune(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    async def retry_after(self, key: str) -> int | None:
        now = time.monotonic()
        failures = self._prune(key, now)
        if len(failures) < self.max_failures:
            return None
        return max(1, math.ceil(failures[-self.max_failures] + self.window - now))

    async def record_failure(self, key: str) -> None:
        now = time.monotonic()
        self._prune(key, now).append(now)

    async def reset(self, key: str) -> None:
        self._failures.pop(key, None)


class RedisLoginThrottle:
    """A sorted set of failure timestamps per key, timed by the Redis server's clock."""

    _RECORD = """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
    redis.call('ZADD', KEYS[1], now, tostring(now) .. ':' .. ARGV[2])
    redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]) + 1)
    return 1
    """
    _CHECK = """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    local window = tonumber(ARGV[1])
    local limit = tonumber(ARGV[2])
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
    local n = redis.call('ZCARD', KEYS[1])
    if n < limit then return -1 end
    local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
    return tostring(tonumber(oldest[2]) + window - now)
    """

    def __init__(
        self, redis: Redis, max_failures: int, window_seconds: int, prefix: str = "magflow"
    ) -> None:
        self.redis = redis
        self.max_failures = max_failures
        self.window = window_seconds
        self.prefix = prefix
        self._counter = 0

    def _key(self, key: str) -> str:
        return f"{self.prefix}:login-failures:{key}"

    async def retry_after(self, key: str) -> int | None:
        result = await self.redis.eval(  # type: ignore[misc]
            self._CHECK, 1, self._key(key), self.window, self.max_failures
        )
        wait = float(result)
        return None if wait < 0 else max(1, math.ceil(wait))

    async def record_failure(self, key: str) -> None:
        self._counter += 1
        await self.redis.eval(  # type: ignore[misc]
            self._RECORD, 1, self._key(key), self.window, f"{id(self)}:{self._counter}"
        )

    async def reset(self, key: str) -> None:
        await self.redis.delete(self._key(key))
