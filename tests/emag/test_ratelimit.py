"""Rate limiter: route buckets, the fixed-window ceiling and budget use
(docs/emag-protocol.md, "Rate and size limits").

The timing tests run a few seconds each: they drive the real eMAG limits (12/s order, 3/s other)
with more concurrent tasks than the limit and check, on the wall clock, that no fixed 1-second
window aligned to the clock (what eMAG's gateway counts) ever sees more than the limit, and that
the long-run rate is at least 90 % of it. Redis variants run when ``MAGFLOW_TEST_REDIS_URL`` is
set, on a random key prefix.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from magflow.emag import (
    Bucket,
    InMemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    Window,
    bucket_for_route,
    make_rate_limiter,
)
from magflow.emag.ratelimit import DEFAULT_LIMITS, process_rate_limiter

REDIS_URL = os.environ.get("MAGFLOW_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(
    REDIS_URL is None,
    reason="Redis not configured: set MAGFLOW_TEST_REDIS_URL=redis://host:port/db",
)


@pytest.mark.parametrize(
    ("route", "bucket"),
    [
        ("order/read", Bucket.ORDER),
        ("order/count", Bucket.ORDER),
        ("order/acknowledge/123", Bucket.ORDER),
        ("order/attachments/save", Bucket.ORDER),
        ("order/55/unlock-courier", Bucket.ORDER),
        ("/api-3/order/save", Bucket.ORDER),
        ("https://marketplace-api.emag.ro/api-3/order/read?x=1", Bucket.ORDER),
        ("documentation/find_by_eans", Bucket.EAN),
        ("documentation/find_by_eans?eans[]=1", Bucket.EAN),
        ("product_offer/read", Bucket.OTHER),
        ("offer_stock/7", Bucket.OTHER),
        ("awb/save", Bucket.OTHER),
        ("rma/read", Bucket.OTHER),
        ("ordered/read", Bucket.OTHER),
        ("category/read", Bucket.OTHER),
    ],
)
def test_route_buckets(route: str, bucket: Bucket) -> None:
    assert bucket_for_route(route) is bucket


def test_default_limits_match_the_reference() -> None:
    assert DEFAULT_LIMITS[Bucket.ORDER] == (Window(12, 1.0), Window(720, 60.0))
    assert DEFAULT_LIMITS[Bucket.OTHER] == (Window(3, 1.0), Window(180, 60.0))
    assert DEFAULT_LIMITS[Bucket.EAN][:2] == (Window(5, 1.0), Window(200, 60.0))


def test_factory_shares_one_process_limiter() -> None:
    assert make_rate_limiter(None) is make_rate_limiter("") is process_rate_limiter()
    assert isinstance(make_rate_limiter(None, margin=0.1), InMemoryRateLimiter)


async def drive(
    limiter: RateLimiter, account: str, bucket: Bucket, sends: int, tasks: int
) -> list[float]:
    """``tasks`` workers take ``sends`` slots in total; returns the wall-clock grant times."""
    stamps: list[float] = []
    done = asyncio.Event()

    async def worker() -> None:
        while True:
            grant = await limiter.acquire_slot(account, bucket)
            # the "send": recorded as the client does, through confirm()
            limiter.confirm(grant, time.monotonic())
            stamps.append(time.time())
            if len(stamps) >= sends:
                done.set()

    workers = [asyncio.create_task(worker()) for _ in range(tasks)]
    await done.wait()
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return sorted(stamps)


def assert_ceiling_and_budget(stamps: list[float], limit: int) -> None:
    per_second = Counter(int(t) for t in stamps)  # fixed windows aligned to the wall clock
    assert max(per_second.values()) <= limit, per_second
    for i in range(len(stamps) - limit):  # and any sliding 1-second window
        assert stamps[i + limit] - stamps[i] >= 1.0, (i, stamps[i + limit] - stamps[i])
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate >= 0.9 * limit, rate


async def run_both_buckets(limiter: RateLimiter, account: str) -> None:
    order, other = await asyncio.gather(
        drive(limiter, account, Bucket.ORDER, sends=3 * 12 + 1, tasks=30),
        drive(limiter, account, Bucket.OTHER, sends=3 * 3 + 1, tasks=8),
    )
    assert_ceiling_and_budget(order, 12)
    assert_ceiling_and_budget(other, 3)


async def test_in_process_ceiling_and_budget() -> None:
    await run_both_buckets(InMemoryRateLimiter(), f"acct-{uuid.uuid4().hex}")


async def test_in_process_ceiling_holds_under_event_loop_lag() -> None:
    """A task that blocks the loop now and then delays grants but never squeezes sends."""
    limiter = InMemoryRateLimiter()
    stop = False

    async def hog() -> None:
        while not stop:
            time.sleep(0.03)
            await asyncio.sleep(0.01)

    hog_task = asyncio.create_task(hog())
    try:
        stamps = await drive(limiter, "lagged", Bucket.ORDER, sends=2 * 12 + 1, tasks=30)
    finally:
        stop = True
        await hog_task
    assert max(Counter(int(t) for t in stamps).values()) <= 12
    for i in range(len(stamps) - 12):
        assert stamps[i + 12] - stamps[i] >= 1.0


async def test_accounts_and_buckets_are_independent() -> None:
    limiter = InMemoryRateLimiter({b: (Window(2, 10.0),) for b in Bucket}, margin=0, spacing=0)
    started = time.monotonic()
    for account in ("a", "b"):
        for bucket in Bucket:
            for _ in range(2):
                await limiter.acquire(account, bucket)
    assert time.monotonic() - started < 0.1


async def test_every_window_of_a_bucket_applies() -> None:
    limiter = InMemoryRateLimiter({Bucket.OTHER: (Window(3, 0.1), Window(5, 0.5))}, margin=0.01)
    stamps = []
    started = time.monotonic()
    for _ in range(11):
        await limiter.acquire("k", Bucket.OTHER)
        stamps.append(time.monotonic() - started)
    for i in range(len(stamps) - 5):
        assert stamps[i + 5] - stamps[i] >= 0.51 - 0.002
    for i in range(len(stamps) - 3):
        assert stamps[i + 3] - stamps[i] >= 0.11 - 0.002
    assert stamps[-1] < 1.3


async def test_grants_are_spaced_to_smooth_bursts() -> None:
    limiter = InMemoryRateLimiter()  # 12/s, margin 50 ms → grants ≥ 43.75 ms apart
    stamps = await drive(limiter, "spaced", Bucket.ORDER, sends=6, tasks=12)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.043


async def test_confirm_records_the_real_send_time() -> None:
    limiter = InMemoryRateLimiter({Bucket.OTHER: (Window(1, 0.2),)}, margin=0, spacing=0)
    grant = await limiter.acquire_slot("c", Bucket.OTHER)
    limiter.confirm(grant, grant.local_at + 0.1)  # the request left 100 ms after its grant
    assert await limiter.acquire("c", Bucket.OTHER) >= 0.29


async def test_pause_blocks_the_bucket() -> None:
    limiter = InMemoryRateLimiter()
    before_pause = time.monotonic()
    await limiter.pause("p", Bucket.ORDER, 0.25)
    await limiter.pause("p", Bucket.ORDER, 0.05)  # never shortens
    await limiter.acquire("p", Bucket.ORDER)
    assert time.monotonic() - before_pause >= 0.249
    assert await limiter.acquire("p", Bucket.OTHER) < 0.1  # another bucket is not paused


# --- Redis ---------------------------------------------------------------------------------------


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    assert REDIS_URL is not None
    prefix = f"magflow-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    keys = [k async for k in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@needs_redis
async def test_redis_ceiling_and_budget_shared_by_two_processes(redis_prefix: str) -> None:
    """Two limiters with their own Redis connections (as two processes would have) share one
    budget: their sends together respect the ceiling and use the budget."""
    assert REDIS_URL is not None
    first = make_rate_limiter(REDIS_URL, prefix=redis_prefix)
    second = make_rate_limiter(REDIS_URL, prefix=redis_prefix)
    assert isinstance(first, RedisRateLimiter)
    try:
        results: Any = await asyncio.gather(
            drive(first, "acct", Bucket.ORDER, sends=19, tasks=15),
            drive(second, "acct", Bucket.ORDER, sends=18, tasks=15),
            drive(first, "acct", Bucket.OTHER, sends=5, tasks=4),
            drive(second, "acct", Bucket.OTHER, sends=5, tasks=4),
        )
        assert_ceiling_and_budget(sorted(results[0] + results[1]), 12)
        assert_ceiling_and_budget(sorted(results[2] + results[3]), 3)
    finally:
        await first.aclose()
        await second.aclose()


@needs_redis
async def test_redis_pause_is_shared(redis_prefix: str) -> None:
    assert REDIS_URL is not None
    first = make_rate_limiter(REDIS_URL, prefix=redis_prefix)
    second = make_rate_limiter(REDIS_URL, prefix=redis_prefix)
    try:
        # Timed from before the pause: the pause runs from a moment after this reading, and a
        # busy machine can spend part of it between the two calls.
        before_pause = time.monotonic()
        await first.pause("acct", Bucket.OTHER, 0.3)
        await second.acquire("acct", Bucket.OTHER)
        assert time.monotonic() - before_pause >= 0.29  # PTTL counts whole milliseconds
        assert await second.acquire("acct", Bucket.ORDER) < 0.15  # another bucket is not paused
    finally:
        await first.aclose()
        await second.aclose()


@needs_redis
async def test_redis_keys_are_per_account_and_bucket(redis_prefix: str) -> None:
    assert REDIS_URL is not None
    limiter = make_rate_limiter(REDIS_URL, prefix=redis_prefix)
    assert isinstance(limiter, RedisRateLimiter)
    try:
        await limiter.acquire("a1", Bucket.ORDER)
        await limiter.acquire("a2", Bucket.EAN)
        keys = sorted([k.decode() async for k in limiter.redis.scan_iter(f"{redis_prefix}:*")])
        assert keys == [
            f"{redis_prefix}:emag:rl:{{a1:order}}",
            f"{redis_prefix}:emag:rl:{{a2:ean}}",
        ]
        ttl = await limiter.redis.pttl(keys[0])
        assert 0 < ttl <= 62_000
    finally:
        await limiter.aclose()


async def test_redis_unreachable_falls_back_to_in_process() -> None:
    limiter = make_rate_limiter("redis://127.0.0.1:1/0", prefix="unused")
    try:
        started = time.monotonic()
        for _ in range(4):
            await limiter.acquire("x", Bucket.OTHER)
        # 3/s: the 4th send waits for the 1 s + margin window of the first
        assert time.monotonic() - started >= 1.0
    finally:
        await limiter.aclose()


@needs_redis
async def test_redis_acquire_is_cancellable(redis_prefix: str) -> None:
    """Cancelling waiters (as a TaskGroup does) releases them at once, mid-command or not."""
    assert REDIS_URL is not None
    limiter = make_rate_limiter(REDIS_URL, prefix=redis_prefix)

    async def worker() -> None:
        while True:
            await limiter.acquire("acct", Bucket.ORDER)

    workers = [asyncio.create_task(worker()) for _ in range(10)]
    await asyncio.sleep(0.3)
    for task in workers:
        task.cancel()
    results = await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), 2)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    await limiter.aclose()


@needs_redis
async def test_redis_confirm_records_the_real_send_time(redis_prefix: str) -> None:
    assert REDIS_URL is not None
    limiter = make_rate_limiter(
        REDIS_URL, prefix=redis_prefix, limits={Bucket.OTHER: (Window(1, 0.2),)}, margin=0
    )
    try:
        grant = await limiter.acquire_slot("c", Bucket.OTHER)
        limiter.confirm(grant, grant.local_at + 0.1)
        await asyncio.sleep(0.01)  # the re-scoring runs in the background
        await limiter.acquire("c", Bucket.OTHER)
        # The next send waits for the window from the REAL send time (local_at + 0.1), not from
        # the grant: an order of events on the monotonic clock, whatever the machine's load.
        assert time.monotonic() >= grant.local_at + 0.1 + 0.2 - 0.02
    finally:
        await limiter.aclose()
