"""A small cache: in-process (TTL dict) by default, Redis when ``MAGFLOW_REDIS_URL`` is set.

``await cache.get(key)``, ``set(key, value, ttl)``, ``delete(key)``, ``invalidate_prefix(p)``,
``get_or_compute(key, ttl, compute)``; hits and misses are counted per cache name in
``magflow_cache_hits_total`` / ``magflow_cache_misses_total``.
"""

from __future__ import annotations

from redis.asyncio import Redis

from magflow.cache.base import CACHE_HITS, CACHE_MISSES, Cache
from magflow.cache.memory import MemoryCache
from magflow.cache.redis import RedisCache
from magflow.settings import Settings


def build_cache(
    settings: Settings,
    redis: Redis | None = None,
    name: str = "default",
    *,
    default_ttl: float | None = 60.0,
    max_entries: int = 10_000,
) -> Cache:
    """Redis when configured (sharing ``redis`` when given), else in-process."""
    if settings.redis_url:
        if redis is None:
            return RedisCache.from_url(
                settings.redis_url, name, prefix=settings.redis_prefix, default_ttl=default_ttl
            )
        return RedisCache(redis, name, prefix=settings.redis_prefix, default_ttl=default_ttl)
    return MemoryCache(name, default_ttl=default_ttl, max_entries=max_entries)


__all__ = ["CACHE_HITS", "CACHE_MISSES", "Cache", "MemoryCache", "RedisCache", "build_cache"]
