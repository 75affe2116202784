"""Login throttling: at most N login attempts per (email, client address) within a window.

An attempt is counted *before* its password is verified, atomically with the check: counting
only failures, after the (slow) verification, let every guess sent in parallel pass the check
before the first one was counted (50 parallel guesses were all verified). Now N parallel guesses
get at most ``max_attempts`` verifications per window; the others are refused with 429 without
touching the password hash. A successful login clears its key.

Keys are the normalised email that was tried (whether or not such a user exists) *and* the
client's address: a stranger guessing from elsewhere cannot keep the real user locked out.
An admin can clear every key of one email (:meth:`unlock`).

In-process by default (bounded: expired keys are evicted and the number of keys is capped);
in Redis when configured, so that every API process sees one count (``INCR`` + ``EXPIRE`` in one
Lua script: a fixed window starting at the first attempt).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

from redis.asyncio import Redis

#: Longest email address (RFC 5321 path limit); longer usernames are refused before throttling.
MAX_EMAIL_LENGTH = 254

#: Most keys the in-process throttle keeps; beyond, the oldest windows are dropped first.
DEFAULT_MAX_KEYS = 100_000


def throttle_key(email: str, client: str | None) -> str:
    return f"{email}|{client or '-'}"


class LoginThrottle(Protocol):
    async def acquire(self, key: str) -> int | None:
        """Count one attempt for ``key``. None when it may proceed (verify the password), else
        the seconds to wait: the attempt is refused and must not be verified."""

    async def reset(self, key: str) -> None:
        """Forget the attempts of ``key`` (after a successful login)."""

    async def unlock(self, email: str) -> int:
        """Forget the attempts of ``email`` from every client address; returns how many keys."""


class MemoryLoginThrottle:
    """Fixed windows in a dict kept in window-start order (oldest first), so that expired keys
    are evicted from its front in time proportional to what is evicted."""

    def __init__(
        self, max_attempts: int, window_seconds: int, max_keys: int = DEFAULT_MAX_KEYS
    ) -> None:
        self.max_attempts = max_attempts
        self.window = window_seconds
        self.max_keys = max_keys
        # key -> [window start (monotonic), attempts]
        self._windows: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._windows)

    def _evict(self, now: float) -> None:
        expired_before = now - self.window
        while self._windows:
            key = next(iter(self._windows))
            if self._windows[key][0] > expired_before and len(self._windows) < self.max_keys:
                break
            del self._windows[key]

    async def acquire(self, key: str) -> int | None:
        return self.acquire_now(key)

    def acquire_now(self, key: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            self._evict(now)
            entry = self._windows.get(key)
            if entry is None or entry[0] <= now - self.window:
                self._windows.pop(key, None)
                self._windows[key] = [now, 1.0]
                return None
            entry[1] += 1
            if entry[1] <= self.max_attempts:
                return None
            return max(1, math.ceil(entry[0] + self.window - now))

    async def reset(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)

    async def unlock(self, email: str) -> int:
        prefix = f"{email}|"
        with self._lock:
            keys = [key for key in self._windows if key.startswith(prefix)]
            for key in keys:
                del self._windows[key]
        return len(keys)


class RedisLoginThrottle:
    """A counter per key that expires with its window, timed by the Redis server."""

    _ACQUIRE = """
    local n = redis.call('INCR', KEYS[1])
    if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
    if n <= tonumber(ARGV[2]) then return -1 end
    local ttl = redis.call('TTL', KEYS[1])
    if ttl < 0 then
        redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
        ttl = tonumber(ARGV[1])
    end
    return ttl
    """

    def __init__(
        self, redis: Redis, max_attempts: int, window_seconds: int, prefix: str = "magflow"
    ) -> None:
        self.redis = redis
        self.max_attempts = max_attempts
        self.window = window_seconds
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:login-attempts:{key}"

    async def acquire(self, key: str) -> int | None:
        result = await self.redis.eval(  # type: ignore[misc]
            self._ACQUIRE, 1, self._key(key), self.window, self.max_attempts
        )
        wait = int(result)
        return None if wait < 0 else max(1, wait)

    async def reset(self, key: str) -> None:
        await self.redis.delete(self._key(key))

    async def unlock(self, email: str) -> int:
        pattern = _glob_escape(self._key(f"{email}|")) + "*"
        keys = [key async for key in self.redis.scan_iter(match=pattern, count=1000)]
        if keys:
            await self.redis.delete(*keys)
        return len(keys)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
