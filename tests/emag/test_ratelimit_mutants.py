"""Rate limiter behaviour that the mutation sample found unasserted (issue 19).

A send confirmed later than granted moves in the log; the log must stay in send order, or the
limiter counts the wrong entry as the oldest of a window and lets two sends fall into one window
that eMAG counts (a 429 in production).
"""

from __future__ import annotations

from magflow.emag import Bucket, InMemoryRateLimiter, Window

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


async def test_confirm_keeps_other_accounts_and_buckets_apart() -> None:
    """Confirming a send of one account and bucket moves no other log."""
    limiter = InMemoryRateLimiter({b: (Window(1, WINDOW),) for b in Bucket}, margin=0, spacing=0)
    grant = await limiter.acquire_slot("a", Bucket.ORDER)
    limiter.confirm(grant, grant.local_at + WINDOW)
    other = await limiter.acquire_slot("b", Bucket.ORDER)
    assert other.waited < WINDOW / 2
    bucket = await limiter.acquire_slot("a", Bucket.OTHER)
    assert bucket.waited < WINDOW / 2
