"""Redis cache: one key per entry, ``<redis_prefix>:cache:<name>:<key>``, expiry by ``PX``.

Prefix invalidation walks the matching keys with ``SCAN`` (never ``KEYS``) and ``UNLINK``s them,
so it does not block the server; keys written meanwhile under the prefix may survive it.
"""

from __future__ import annotations

import re
from typing import Any

from redis.asyncio import Redis

from magflow.cache.base import Cache

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class RedisCache(Cache):
    def __init__(
        self,
        redis: Redis,
        name: str = "default",
        *,
        prefix: str = "magflow",
        default_ttl: float | None = 60.0,
        owns_client: bool = False,
    ) -> None:
        super().__init__(name, default_ttl)
        self.redis = redis
        self.namespace = f"{prefix}:cache:{name}:"
        self._owns_client = owns_client

    @classmethod
    def from_url(cls, url: str, name: str = "default", **kwargs: Any) -> RedisCache:
        return cls(Redis.from_url(url), name, owns_client=True, **kwargs)

    async def _get_raw(self, key: str) -> str | None:
        raw: Any = await self.redis.get(self.namespace + key)
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def _set_raw(self, key: str, raw: str, ttl: float | None) -> None:
        px = None if ttl is None else max(1, round(ttl * 1000))
        await self.redis.set(self.namespace + key, raw, px=px)

    async def _delete(self, key: str) -> bool:
        removed: int = await self.redis.unlink(self.namespace + key)
        return removed > 0

    async def _invalidate_prefix(self, prefix: str) -> int:
        pattern = _GLOB_SPECIAL.sub(r"\\\1", self.namespace + prefix) + "*"
        removed = 0
        batch: list[Any] = []
        async for key in self.redis.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                removed += await self.redis.unlink(*batch)
                batch.clear()
        if batch:
            removed += await self.redis.unlink(*batch)
        return removed

    async def aclose(self) -> None:
        if self._owns_client:
            await self.redis.aclose()
