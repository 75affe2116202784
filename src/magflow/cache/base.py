"""The cache interface, its Prometheus counters and ``get_or_compute``.

Values are JSON: what comes back from the cache is what ``json.loads(json.dumps(value))`` gives
(tuples become lists, keys become strings), in both backends, so a value cached in-process behaves
exactly as one read back from Redis, and callers cannot mutate a cached value by accident.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, Final, TypeVar, cast

from prometheus_client import Counter

CACHE_HITS = Counter("magflow_cache_hits_total", "Cache lookups that found a value.", ["name"])
CACHE_MISSES = Counter(
    "magflow_cache_misses_total",
    "Cache lookups that found nothing (or an expired value).",
    ["name"],
)

T = TypeVar("T")
V = TypeVar("V")

#: How long :meth:`Cache.near` keeps a value in the process (seconds).
NEAR_SECONDS = 1.0
#: At most this many near values per cache (all dropped when full: they are re-read in a second).
NEAR_KEPT = 1024


class _DefaultTTL(Enum):
    token = 0


DEFAULT_TTL: Final = _DefaultTTL.token
TTL = float | None | _DefaultTTL


class Cache(ABC):
    """A named cache; ``name`` labels its metrics and namespaces its keys."""

    def __init__(self, name: str, default_ttl: float | None = 60.0) -> None:
        if not name or ":" in name:
            raise ValueError("a cache name must be non-empty and must not contain ':'")
        self.name = name
        self.default_ttl = default_ttl
        self._hits = CACHE_HITS.labels(name)
        self._misses = CACHE_MISSES.labels(name)
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        # key -> (monotonic expiry, loaded value): see near().
        self._near: dict[str, tuple[float, Any]] = {}

    # Backend primitives: raw JSON text in, raw JSON text out.
    @abstractmethod
    async def _get_raw(self, key: str) -> str | None: ...

    @abstractmethod
    async def _set_raw(self, key: str, raw: str, ttl: float | None) -> None: ...

    @abstractmethod
    async def _delete(self, key: str) -> bool: ...

    @abstractmethod
    async def _invalidate_prefix(self, prefix: str) -> int: ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True when it was there."""
        self._near.pop(key, None)
        return await self._delete(key)

    async def invalidate_prefix(self, prefix: str) -> int:
        """Remove every key starting with ``prefix`` (``""``: all of this cache); returns how many.

        Keys are best structured as ``"<what>:<id>:..."`` so that a prefix is a natural tag,
        e.g. ``invalidate_prefix("account:7:")`` after account 7 synced."""
        for key in [key for key in self._near if key.startswith(prefix)]:
            del self._near[key]
        return await self._invalidate_prefix(prefix)

    async def aclose(self) -> None:  # noqa: B027 - nothing to release by default
        """Release what the backend holds."""

    async def clear(self) -> int:
        return await self.invalidate_prefix("")

    async def get(self, key: str, default: Any = None) -> Any:
        raw = await self._get_raw(key)
        if raw is None:
            self._misses.inc()
            return default
        self._hits.inc()
        return json.loads(raw)

    async def set(self, key: str, value: Any, ttl: TTL = DEFAULT_TTL) -> None:
        """Store ``value`` for ``ttl`` seconds (default: the cache's; None: until evicted)."""
        if isinstance(ttl, _DefaultTTL):
            ttl = self.default_ttl
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive (or None for no expiry)")
        await self._set_raw(key, json.dumps(value, separators=(",", ":")), ttl)

    async def get_or_compute(self, key: str, ttl: TTL, compute: Callable[[], Awaitable[T]]) -> T:
        """The cached value of ``key``, or ``await compute()`` stored for ``ttl`` seconds.

        Concurrent misses of one key in this process share a single ``compute()`` (no stampede);
        across processes each may compute once. A failing ``compute()`` caches nothing. On a hit
        the value is the JSON round trip of what was computed (see the module docstring).
        """
        raw = await self._get_raw(key)
        if raw is not None:
            self._hits.inc()
            return cast(T, json.loads(raw))
        self._misses.inc()
        inflight = self._inflight.get(key)
        if inflight is not None:
            return cast(T, await asyncio.shield(inflight))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await compute()
            await self.set(key, value, ttl)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._inflight[key]

    async def near(
        self,
        key: str,
        ttl: TTL,
        compute: Callable[[], Awaitable[Any]],
        load: Callable[[Any], V],
        seconds: float = NEAR_SECONDS,
    ) -> V:
        """:meth:`get_or_compute`'s value passed through ``load`` (a model's ``model_validate``,
        say), then kept in this process for ``seconds`` more: a value read on every request
        (the enhanced status, the customers' summary, a listing's total) costs one read of the
        shared cache and one ``load`` per second per process instead of one per request.

        The price: a value invalidated by another process (a sync run ending in a worker) is
        still served here for up to ``seconds``, and a value may be served up to ``seconds``
        past its ``ttl``. An invalidation in this process drops its near values at once. The
        value is shared by every caller until then: never change it.

        While one caller of this process computes a new value (the shared entry expired too),
        the others get the expired near value instead of waiting for it: a listing's total over
        hundreds of thousands of orders takes a tenth of a second to count, and at a hundred
        requests a second every request of that listing waited for it, each holding one of the
        process's admission slots (BENCHMARKS.md, issue 18's eighth session: the slots all held,
        the other listings' requests were refused). So a value may be served for as long as its
        computation takes past ``seconds``; only a key with no near value yet (or one dropped
        by an invalidation here) makes callers wait."""
        now = time.monotonic()
        entry = self._near.get(key)
        if entry is not None and (entry[0] > now or key in self._inflight):
            self._hits.inc()
            return cast(V, entry[1])
        value = load(await self.get_or_compute(key, ttl, compute))
        if len(self._near) >= NEAR_KEPT:
            self._near.clear()
        self._near[key] = (now + seconds, value)
        return value
