"""The cache, in-process and on a real Redis server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from magflow.cache import Cache, MemoryCache, RedisCache, build_cache
from magflow.settings import Settings

REDIS_URL = os.environ.get("MAGFLOW_TEST_REDIS_URL")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    name = f"t{uuid.uuid4().hex[:8]}"  # fresh counters per test
    if request.param == "memory":
        yield MemoryCache(name)
        return
    if REDIS_URL is None:
        pytest.skip("Redis not configured: set MAGFLOW_TEST_REDIS_URL")
    prefix = f"magflow-test-{uuid.uuid4().hex[:12]}"
    settings = Settings(_env_file=None, redis_url=REDIS_URL, redis_prefix=prefix)  # type: ignore[call-arg]
    redis_cache = build_cache(settings, name=name)
    assert isinstance(redis_cache, RedisCache)
    yield redis_cache
    await redis_cache.clear()
    await redis_cache.aclose()
    async with Redis.from_url(REDIS_URL) as redis:
        assert [key async for key in redis.scan_iter(f"{prefix}:*")] == []


def counts(name: str) -> tuple[float, float]:
    hits = REGISTRY.get_sample_value("magflow_cache_hits_total", {"name": name}) or 0.0
    misses = REGISTRY.get_sample_value("magflow_cache_misses_total", {"name": name}) or 0.0
    return hits, misses


async def test_set_get_delete_json_values_and_counters(cache: Cache) -> None:
    assert await cache.get("offer:1") is None
    await cache.set("offer:1", {"price": 12.5, "tags": ("a", "b")}, ttl=60)
    assert await cache.get("offer:1") == {"price": 12.5, "tags": ["a", "b"]}  # JSON round trip
    await cache.set("nothing", None)
    assert await cache.get("nothing", default="absent") is None  # a cached null is a hit
    assert await cache.get("missing", default="absent") == "absent"
    assert counts(cache.name) == (2.0, 2.0)
    assert await cache.delete("offer:1") is True
    assert await cache.delete("offer:1") is False
    assert await cache.get("offer:1") is None


async def test_invalidate_by_prefix(cache: Cache) -> None:
    for key in ("account:7:offers", "account:7:orders", "account:70:offers", "acc*unt:[7]"):
        await cache.set(key, 1)
    assert await cache.invalidate_prefix("account:7:") == 2
    assert await cache.get("account:7:offers") is None
    assert await cache.get("account:70:offers") == 1
    assert await cache.invalidate_prefix("acc*unt:[") == 1  # glob characters are literal
    assert await cache.get("account:70:offers") == 1
    assert await cache.clear() == 1


async def test_get_or_compute_computes_once_for_concurrent_misses(cache: Cache) -> None:
    calls = 0

    async def compute() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return {"total": 42}

    results = await asyncio.gather(*(cache.get_or_compute("k", 60, compute) for _ in range(5)))
    assert results == [{"total": 42}] * 5 and calls == 1
    assert await cache.get_or_compute("k", 60, compute) == {"total": 42} and calls == 1
    assert counts(cache.name) == (1.0, 5.0)


class Model:
    """Stands for a model a near value is loaded into (counts its loads)."""

    loads = 0

    def __init__(self, raw: dict[str, int]) -> None:
        Model.loads += 1
        self.raw = raw


async def test_near_keeps_the_loaded_value_in_the_process_for_a_while(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``near``: one read of the shared cache and one load per key per ``seconds``; the same
    object meanwhile; dropped at once by an invalidation in this process, not by one elsewhere
    (another process's deletion is seen when the near copy expires)."""
    clock = Clock()
    monkeypatch.setattr("magflow.cache.base.time.monotonic", clock)
    Model.loads = 0
    computed = 0

    async def compute() -> dict[str, int]:
        nonlocal computed
        computed += 1
        return {"n": computed}

    first = await cache.near("status:x", 60, compute, Model, seconds=1.0)
    assert first.raw == {"n": 1} and Model.loads == 1
    clock.now += 0.9
    assert await cache.near("status:x", 60, compute, Model, seconds=1.0) is first
    assert Model.loads == 1
    # Another process clears the shared entry: this one keeps its near copy until it expires...
    await cache._delete("status:x")
    assert await cache.near("status:x", 60, compute, Model, seconds=1.0) is first
    clock.now += 0.2
    second = await cache.near("status:x", 60, compute, Model, seconds=1.0)
    assert second.raw == {"n": 2} and Model.loads == 2
    # ... while an invalidation here drops it at once.
    await cache.invalidate_prefix("status:")
    assert (await cache.near("status:x", 60, compute, Model, seconds=1.0)).raw == {"n": 3}
    await cache.delete("status:x")
    assert (await cache.near("status:x", 60, compute, Model, seconds=1.0)).raw == {"n": 4}
    await cache.clear()
    assert (await cache.near("status:x", 60, compute, Model, seconds=1.0)).raw == {"n": 5}
    # A value still in the shared cache is read from it, not computed again.
    clock.now += 5
    assert (await cache.near("status:x", 60, compute, Model, seconds=1.0)).raw == {"n": 5}
    assert computed == 5 and Model.loads == 6


async def test_near_serves_the_expired_value_while_this_process_computes_the_next(
    cache: Cache,
) -> None:
    """Callers arriving while one computes an expired key get the expired near value at once
    (not a wait, not a second computation); without a near value they wait for the one
    computation; once it is done, everyone gets the new value."""
    release = asyncio.Event()
    computed = 0

    async def compute() -> dict[str, int]:
        nonlocal computed
        computed += 1
        if computed > 1:
            await release.wait()
        return {"n": computed}

    async def until_computed(times: int) -> None:
        for _ in range(500):  # the shared cache may be a Redis round trip away
            if computed >= times:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"not computed {times} times")

    # Kept near for no time: the near copy has expired at once; the shared entry is removed.
    first = await cache.near("total:x", 5, compute, Model, seconds=0.0)
    await cache._delete("total:x")
    recomputing = asyncio.create_task(cache.near("total:x", 5, compute, Model, seconds=60))
    await until_computed(2)
    meanwhile = asyncio.create_task(cache.near("total:x", 5, compute, Model, seconds=60))
    for _ in range(10):
        await asyncio.sleep(0)
    assert meanwhile.done() and meanwhile.result() is first
    assert computed == 2 and not recomputing.done()
    release.set()
    second = await recomputing
    assert second.raw == {"n": 2}
    assert await cache.near("total:x", 5, compute, Model, seconds=60) is second
    # Dropped by an invalidation here, there is nothing to serve meanwhile: callers wait.
    await cache.invalidate_prefix("total:")
    release.clear()
    waiting = [
        asyncio.create_task(cache.near("total:x", 5, compute, Model, seconds=60)) for _ in range(2)
    ]
    await until_computed(3)
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in waiting)
    release.set()
    assert [(await task).raw for task in waiting] == [{"n": 3}, {"n": 3}]
    assert computed == 3


async def test_a_failing_compute_caches_nothing(cache: Cache) -> None:
    async def boom() -> int:
        raise RuntimeError("eMAG is down")

    with pytest.raises(RuntimeError):
        await cache.get_or_compute("k", 60, boom)

    async def fine() -> int:
        return 7

    assert await cache.get_or_compute("k", 60, fine) == 7


async def test_redis_entries_expire(cache: Cache) -> None:
    if not isinstance(cache, RedisCache):
        pytest.skip("the in-process expiry is tested with a controlled clock")
    await cache.set("short", "v", ttl=0.1)
    await cache.set("long", "v", ttl=60)
    async with asyncio.timeout(5):
        while await cache.get("short") is not None:  # noqa: ASYNC110 - polling Redis's expiry
            await asyncio.sleep(0.02)
    assert await cache.get("long") == "v"


async def test_memory_entries_expire_and_the_size_is_bounded() -> None:
    clock = Clock()
    cache = MemoryCache("mem-ttl", max_entries=3, clock=clock, default_ttl=10)
    await cache.set("a", 1)
    await cache.set("forever", 2, ttl=None)
    clock.now += 9.9
    assert await cache.get("a") == 1
    clock.now += 0.2
    assert await cache.get("a") is None
    assert await cache.get("forever") == 2
    for key in "bcd":
        await cache.set(key, key)
    assert len(cache) == 3
    assert await cache.get("forever") is None  # least recently used went first
    assert [await cache.get(k) for k in "bcd"] == ["b", "c", "d"]


async def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError):
        await MemoryCache("bad-ttl").set("k", 1, ttl=0)


def test_build_cache_follows_the_settings() -> None:
    assert isinstance(
        build_cache(Settings(_env_file=None, redis_url=None)),  # type: ignore[call-arg]
        MemoryCache,
    )
