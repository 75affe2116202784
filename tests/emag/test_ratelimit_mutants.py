"""Rate limiter behaviour that the mutation sample found unasserted (issue 19).

A send confirmed later than granted moves in the log; the log must stay in send order, or the
limiter counts the wrong entry as the oldest of a window and lets two sends fall into one window
that eMAG counts (a 429 in production).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from magflow.emag import Bucket, InMemoryRateLimiter, Window, bucket_for_route, make_rate_limiter
from magflow.emag.ratelimit import RedisRateLimiter, process_rate_limiter

WINDOW = 0.2  # seconds: 1 send per window (and a long budget window, so nothing is trimmed)


async def test_a_late_confirmed_send_still_blocks_its_window() -> None:
    """A is granted, B is granted one window later, and A actually leaves *after* B (a slow
    connection): A's real send time opens the window that the next send must wait for."""
    limiter = InMemoryRateLimiter(
        {Bucket.OTHER: (Window(1, WINDOW), Window(10, 60.0))}, margin=0, spacing=0
    )
    first = await limiter.acquire_slot("acct", Bucket.OTHER)
    second = await limiter.acquire_slot("acct", Bucket.OTHER)
    limiter.confirm(second, second.local_at)
    first_sent = second.local_at + WINDOW / 4  # A left after B
    limiter.confirm(first, first_sent)
    third = await limiter.acquire_slot("acct", Bucket.OTHER)
    limiter.confirm(third, third.local_at)

    # The third waits a whole window after the latest real send (A's), not after B's: within
    # any window eMAG counts, the third send meets no other.
    assert third.local_at - max(first_sent, second.local_at) >= WINDOW - 1e-9


async def test_a_send_confirmed_between_two_later_ones_still_counts_in_order() -> None:
    """Two sends per window. A and B are granted at once, C a window later; A really leaves
    half-way between B and C. The next send D must wait a window after A's real send: within
    any window eMAG counts at most two of A, C, D."""
    limiter = InMemoryRateLimiter(
        {Bucket.OTHER: (Window(2, WINDOW), Window(10, 60.0))}, margin=0, spacing=0
    )
    a = await limiter.acquire_slot("acct", Bucket.OTHER)
    b = await limiter.acquire_slot("acct", Bucket.OTHER)
    c = await limiter.acquire_slot("acct", Bucket.OTHER)
    a_sent = b.local_at + (c.local_at - b.local_at) / 2
    limiter.confirm(a, a_sent)
    d = await limiter.acquire_slot("acct", Bucket.OTHER)
    assert d.local_at - a_sent >= WINDOW - 1e-9


async def test_spacing_counts_from_the_real_send() -> None:
    """Grants are spaced (here 100 ms apart); a send that left late pushes the next grant to
    100 ms after it actually left."""
    limiter = InMemoryRateLimiter({Bucket.ORDER: (Window(10, 1.0),)}, margin=0, spacing=1.0)
    first = await limiter.acquire_slot("acct", Bucket.ORDER)
    sent = first.local_at + 0.05
    limiter.confirm(first, sent)
    second = await limiter.acquire_slot("acct", Bucket.ORDER)
    assert second.local_at - sent >= 0.1 - 1e-9


async def test_the_margin_widens_the_longest_window_too() -> None:
    """With a margin m, any ``limit + 1`` consecutive sends span at least window + m in every
    window, the longest (the budget) included: the margin absorbs the clock skew between us and
    eMAG, so a send must not be forgotten before its longest window and margin have passed."""
    margin = 0.2
    limiter = InMemoryRateLimiter(
        {Bucket.OTHER: (Window(1, 0.01), Window(3, 0.5))}, margin=margin, spacing=0
    )
    stamps = [(await limiter.acquire_slot("acct", Bucket.OTHER)).local_at for _ in range(5)]
    for i in range(len(stamps) - 3):
        assert stamps[i + 3] - stamps[i] >= 0.5 + margin - 1e-9, (i, stamps)
    for i in range(len(stamps) - 1):
        assert stamps[i + 1] - stamps[i] >= 0.01 + margin - 1e-9, (i, stamps)


async def test_confirm_keeps_other_accounts_and_buckets_apart() -> None:
    """Confirming a send of one account and bucket moves no other log."""
    limiter = InMemoryRateLimiter({b: (Window(1, WINDOW),) for b in Bucket}, margin=0, spacing=0)
    grant = await limiter.acquire_slot("a", Bucket.ORDER)
    limiter.confirm(grant, grant.local_at + WINDOW)
    other = await limiter.acquire_slot("b", Bucket.ORDER)
    assert other.waited < WINDOW / 2
    bucket = await limiter.acquire_slot("a", Bucket.OTHER)
    assert bucket.waited < WINDOW / 2


@pytest.mark.parametrize(
    ("route", "bucket"),
    [
        ("order", Bucket.ORDER),  # the resource itself
        ("order?currentPage=2", Bucket.ORDER),
        ("order?next=/a?b", Bucket.ORDER),  # a "?" inside the query string
        ("/order/read", Bucket.ORDER),  # a leading slash, no api-3 prefix
        ("order/read/", Bucket.ORDER),
        ("/documentation/find_by_eans/", Bucket.EAN),
        ("orders/read", Bucket.OTHER),  # another resource that merely starts like it
        ("ordered", Bucket.OTHER),
    ],
)
def test_route_spellings_land_in_their_bucket(route: str, bucket: Bucket) -> None:
    """However a route is written (as the client builds it, with a query, with slashes), its
    calls count against the right budget: an order call in ``other`` would take 3/s instead
    of 12/s and a product call in ``order`` would overrun the 3/s limit."""
    assert bucket_for_route(route) is bucket


def test_the_factory_passes_custom_limits_margin_and_spacing_on() -> None:
    """Only the default configuration shares the process-wide limiter; any custom limit,
    margin or spacing gets a limiter of its own that uses it."""
    limits = {b: (Window(7, 2.0),) for b in Bucket}
    for kwargs in ({"limits": limits}, {"margin": 0.3}, {"spacing": 0.9}):
        limiter = make_rate_limiter(None, **kwargs)  # type: ignore[arg-type]
        assert isinstance(limiter, InMemoryRateLimiter)
        assert limiter is not process_rate_limiter(), kwargs
    custom = make_rate_limiter(None, limits=limits, margin=0.3, spacing=0.9)
    assert (custom.limits, custom.margin, custom.spacing) == (limits, 0.3, 0.9)


async def test_without_redis_the_fallback_keeps_the_limits_and_confirms() -> None:
    """Redis unreachable: the in-process fallback paces with the configured limits, and a late
    send confirmed there still opens its window at the real send time."""
    limiter = make_rate_limiter(
        "redis://127.0.0.1:1/0",
        prefix="unused",
        limits={Bucket.OTHER: (Window(1, WINDOW),)},
        margin=0,
        spacing=0,
    )
    try:
        first = await limiter.acquire_slot("acct", Bucket.OTHER)
        sent = first.local_at + WINDOW / 2
        limiter.confirm(first, sent)
        second = await limiter.acquire_slot("acct", Bucket.OTHER)
        assert second.local_at - sent >= WINDOW - 1e-9
    finally:
        await limiter.aclose()


# -- the Redis limiter -----------------------------------------------------------------------------

REDIS_URL = os.environ.get("MAGFLOW_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(REDIS_URL is None, reason="set MAGFLOW_TEST_REDIS_URL")


@pytest.fixture
async def redis_limiter() -> AsyncIterator[RedisRateLimiter]:
    assert REDIS_URL is not None
    prefix = f"magflow-test-{uuid.uuid4().hex[:12]}"
    limiter = make_rate_limiter(REDIS_URL, prefix=prefix, margin=0, spacing=0)
    assert isinstance(limiter, RedisRateLimiter)
    yield limiter
    keys = [k async for k in limiter.redis.scan_iter(f"{prefix}:*")]
    if keys:
        await limiter.redis.delete(*keys)
    await limiter.aclose()


@needs_redis
async def test_a_redis_pause_is_kept_in_redis_for_its_length(
    redis_limiter: RedisRateLimiter,
) -> None:
    """Every process sees the pause (a 429's Retry-After) for as long as it was asked, and a
    shorter pause never cuts a longer one short."""
    await redis_limiter.pause("acct", Bucket.ORDER, 5.0)
    await redis_limiter.pause("acct", Bucket.ORDER, 0.5)
    key = redis_limiter.keys("acct", Bucket.ORDER)[1]
    assert 4_000 < await redis_limiter.redis.pttl(key) <= 5_000
    await redis_limiter.pause("acct", Bucket.OTHER, 0.0001)  # rounds up to 1 ms, not to "no TTL"
    assert await redis_limiter.redis.pttl(redis_limiter.keys("acct", Bucket.OTHER)[1]) in (-2, 0, 1)


@needs_redis
async def test_a_redis_grant_is_re_scored_only_when_the_send_was_late(
    redis_limiter: RedisRateLimiter,
) -> None:
    """A send within the confirm threshold of its grant keeps the grant's time; a later one is
    moved to its real send time (by the lag, on the Redis clock), once the limiter is closed at
    the latest (``aclose`` waits for the re-scoring)."""
    prompt = await redis_limiter.acquire_slot("c", Bucket.OTHER)
    late = await redis_limiter.acquire_slot("c", Bucket.ORDER)
    redis_limiter.confirm(prompt, prompt.local_at + 0.001)
    redis_limiter.confirm(late, late.local_at + 0.25)
    await redis_limiter.aclose()
    async with Redis.from_url(REDIS_URL or "") as redis:
        scores = [
            await redis.zscore(redis_limiter.keys("c", bucket)[0], grant.member)
            for bucket, grant in ((Bucket.OTHER, prompt), (Bucket.ORDER, late))
        ]
    assert scores == [prompt.stamp, pytest.approx(late.stamp + 250_000, abs=1)]


async def test_without_redis_one_warning_a_minute_not_one_per_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = make_rate_limiter("redis://127.0.0.1:1/0", prefix="unused", margin=0, spacing=0)
    try:
        with caplog.at_level(logging.WARNING, logger="magflow"):
            await limiter.acquire("x", Bucket.OTHER)
            await limiter.acquire("x", Bucket.ORDER)
            await limiter.pause("x", Bucket.EAN, 0.001)
    finally:
        await limiter.aclose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("Redis rate limiter unavailable, pacing in-process: ")
    assert "127.0.0.1:1" in warnings[0]  # the error itself, for the operator


async def test_without_redis_a_pause_holds_in_process_and_names_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = make_rate_limiter(
        "redis://127.0.0.1:1/0",
        prefix="unused",
        limits={Bucket.OTHER: (Window(100, 1.0),)},
        margin=0,
        spacing=0,
    )
    try:
        # The in-process pause is set before the Redis attempt fails, so it runs from a moment
        # between these two readings (the failed connection can take a while on a busy machine).
        before_pause = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="magflow"):
            await limiter.pause("acct", Bucket.OTHER, WINDOW)
        paused_at = time.monotonic()
        other = await limiter.acquire_slot("elsewhere", Bucket.OTHER)
        grant = await limiter.acquire_slot("acct", Bucket.OTHER)
    finally:
        await limiter.aclose()
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "127.0.0.1:1" in warning
    # The paused account's send comes after its pause, another account's does not wait for it;
    # each grant belongs to its own account, and says how long it waited.
    assert grant.account_key == "acct" and other.account_key == "elsewhere"
    assert grant.local_at >= before_pause + WINDOW - 0.01
    assert 0 <= grant.waited <= time.monotonic() - paused_at + 0.01
    assert other.local_at < grant.local_at


@needs_redis
async def test_the_redis_factory_passes_margin_and_spacing_to_it_and_its_fallback() -> None:
    assert REDIS_URL is not None
    limiter = make_rate_limiter(REDIS_URL, prefix="unused", margin=0.3, spacing=0.9)
    assert isinstance(limiter, RedisRateLimiter)
    try:
        assert (limiter.margin, limiter.spacing) == (0.3, 0.9)
        fallback = limiter._fallback  # the promise: the same limits when Redis fails
        assert (fallback.margin, fallback.spacing) == (0.3, 0.9)
    finally:
        await limiter.aclose()


@needs_redis
async def test_redis_margin_and_spacing_apply_on_the_redis_clock(
    redis_limiter: RedisRateLimiter,
) -> None:
    """Grants recorded by Redis (its ``TIME``, µs) are spaced by window + margin and by the
    spacing, whatever the process clocks."""
    assert REDIS_URL is not None
    prefix = redis_limiter.prefix
    widened = make_rate_limiter(
        REDIS_URL, prefix=prefix, limits={Bucket.OTHER: (Window(1, WINDOW),)}, margin=WINDOW
    )
    spaced = make_rate_limiter(
        REDIS_URL,
        prefix=prefix,
        limits={Bucket.ORDER: (Window(10, 10 * WINDOW),)},
        margin=0,
        spacing=1,
    )
    try:
        first, second = [await widened.acquire_slot("m", Bucket.OTHER) for _ in range(2)]
        assert second.stamp - first.stamp >= 2 * WINDOW * 1e6
        one, two = [await spaced.acquire_slot("s", Bucket.ORDER) for _ in range(2)]
        assert two.stamp - one.stamp >= WINDOW * 1e6  # 10 per 10 windows: one per window
    finally:
        await widened.aclose()
        await spaced.aclose()


@needs_redis
async def test_a_late_confirm_never_brings_back_an_entry_already_trimmed(
    redis_limiter: RedisRateLimiter,
) -> None:
    grant = await redis_limiter.acquire_slot("t", Bucket.OTHER)
    key = redis_limiter.keys("t", Bucket.OTHER)[0]
    await redis_limiter.redis.zrem(key, grant.member)  # trimmed meanwhile (its window passed)
    redis_limiter.confirm(grant, grant.local_at + 0.25)
    await redis_limiter.aclose()
    async with Redis.from_url(REDIS_URL or "") as redis:
        assert await redis.zscore(key, grant.member) is None


@needs_redis
async def test_a_failed_confirm_is_logged_and_nothing_is_kept_once_done(
    redis_limiter: RedisRateLimiter, caplog: pytest.LogCaptureFixture
) -> None:
    """A confirm that Redis refuses is only logged (the send went out all the same), a good one
    logs nothing, closing does not raise, and no finished task is kept (a worker sending for
    hours would otherwise hold one per send)."""
    good = await redis_limiter.acquire_slot("g", Bucket.OTHER)
    bad = await redis_limiter.acquire_slot("b", Bucket.OTHER)
    bad_key = redis_limiter.keys("b", Bucket.OTHER)[0]
    await redis_limiter.redis.delete(bad_key)
    await redis_limiter.redis.set(bad_key, "not a sorted set")
    with caplog.at_level(logging.DEBUG, logger="magflow.emag.ratelimit"):
        redis_limiter.confirm(good, good.local_at + 0.1)
        redis_limiter.confirm(bad, bad.local_at + 0.1)
        await redis_limiter.aclose()
    failures = [r.getMessage() for r in caplog.records if "confirm" in r.getMessage()]
    assert len(failures) == 1, failures
    assert failures[0].startswith("rate limiter confirm failed: WRONGTYPE")
    assert not redis_limiter._inflight


async def test_the_process_limiter_is_created_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from magflow.emag import ratelimit

    monkeypatch.setattr(ratelimit, "_process_limiter", None)
    first = process_rate_limiter()
    assert isinstance(first, InMemoryRateLimiter)
    assert process_rate_limiter() is first


@needs_redis
async def test_closing_the_factory_made_limiter_closes_its_connections() -> None:
    """The factory's limiter owns its connection pool: ``aclose()`` at shutdown leaves no
    connection open to Redis."""
    assert REDIS_URL is not None
    prefix = f"magflow-test-{uuid.uuid4().hex[:12]}"
    limiter = make_rate_limiter(REDIS_URL, prefix=prefix)
    assert isinstance(limiter, RedisRateLimiter)
    await limiter.acquire("a", Bucket.OTHER)
    pool = limiter.redis.connection_pool
    assert any(c.is_connected for c in pool._available_connections)
    await limiter.aclose()
    assert not any(c.is_connected for c in pool._available_connections)
    async with Redis.from_url(REDIS_URL) as redis:
        await redis.delete(*[k async for k in redis.scan_iter(f"{prefix}:*")])
