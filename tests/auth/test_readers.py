"""The read-only routes' user check kept per process (``auth/readers.py``)."""

from __future__ import annotations

import pytest

from magflow.auth.models import Role, User
from magflow.auth.readers import READERS_KEPT, ReaderCache
from magflow.context import AppContext
from tests.factories import make_user


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("magflow.auth.readers.time.monotonic", clock)
    return clock


async def test_a_reader_is_read_again_after_the_kept_seconds(clock: Clock) -> None:
    """A change made by another process (nothing here knows of it) is seen within
    ``seconds``."""
    reads: list[int] = []
    version = 0

    async def read(user_id: int) -> User | None:
        reads.append(user_id)
        return User(id=user_id, email="a@example.com", role="viewer", token_version=version)

    cache = ReaderCache(seconds=1.0)
    first = await cache.get(7, read)
    version = 1  # revoked elsewhere
    clock.now += 0.99
    assert await cache.get(7, read) is first and reads == [7]
    clock.now += 0.02
    again = await cache.get(7, read)
    assert again is not None and again.token_version == 1 and reads == [7, 7]
    assert await cache.get(8, read) is not None and reads == [7, 7, 8]


async def test_an_unknown_user_is_kept_too_and_zero_seconds_keeps_nothing(clock: Clock) -> None:
    reads = 0

    async def read(_user_id: int) -> User | None:
        nonlocal reads
        reads += 1
        return None

    kept = ReaderCache(seconds=1.0)
    assert await kept.get(1, read) is None and await kept.get(1, read) is None and reads == 1
    off = ReaderCache(seconds=0)
    assert await off.get(1, read) is None and await off.get(1, read) is None and reads == 3


async def test_the_cache_is_bounded(clock: Clock) -> None:
    async def read(user_id: int) -> User | None:
        return User(id=user_id, email=f"{user_id}@example.com", role="viewer", token_version=0)

    cache = ReaderCache(seconds=60)
    for user_id in range(READERS_KEPT + 5):
        await cache.get(user_id, read)
    assert len(cache._readers) <= READERS_KEPT


async def test_a_user_change_committed_in_this_process_drops_every_kept_reader(
    ctx: AppContext, clock: Clock
) -> None:
    """Logout, password, disable, role: each changes the ``User`` row in a session; once that
    commits, no cache of the process serves the old reader. A rolled-back change drops
    nothing."""
    user = await make_user(ctx, role=Role.operator)
    other = ReaderCache(seconds=60)  # another app's context in the same process

    async def read(user_id: int) -> User | None:
        async with ctx.db.read_session() as session:
            from magflow.auth.repository import reader_by_id

            return await reader_by_id(session, user_id)

    for cache in (ctx.readers, other):
        reader = await cache.get(user.id, read)
        assert reader is not None and reader.role == Role.operator.value

    async with ctx.db.session() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.role = Role.viewer.value
        await session.flush()
        await session.rollback()
    for cache in (ctx.readers, other):
        assert user.id in cache._readers

    async with ctx.db.session() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.role = Role.viewer.value
        await session.commit()
    for cache in (ctx.readers, other):
        assert user.id not in cache._readers
        reader = await cache.get(user.id, read)
        assert reader is not None and reader.role == Role.viewer.value
