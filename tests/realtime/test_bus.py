"""The event buses: ids, delivery, replay. The Redis bus runs against a real Redis server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from magflow.realtime.bus import EventBus, MemoryEventBus, RedisEventBus, build_event_bus
from magflow.realtime.events import Event, make_event, normalize_id, parse_id, stream_id
from magflow.settings import Settings
from tests.realtime.conftest import REDIS_URL

BusFactory = Callable[[int], EventBus]


@pytest.fixture(params=["memory", "redis"])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    """Buses that share one stream (like several processes) when Redis."""
    prefix = f"magflow-test-{uuid.uuid4().hex[:12]}"
    made: list[EventBus] = []

    def factory(replay_size: int = 1000) -> EventBus:
        bus: EventBus
        if request.param == "memory":
            bus = MemoryEventBus(replay_size)
        else:
            assert REDIS_URL is not None
            bus = RedisEventBus.from_url(
                REDIS_URL, prefix=prefix, replay_size=replay_size, block_ms=200
            )
        made.append(bus)
        return bus

    if request.param == "redis" and REDIS_URL is None:
        pytest.skip("Redis not configured: set MAGFLOW_TEST_REDIS_URL")
    yield factory
    for bus in made:
        await bus.aclose()
    if request.param == "redis":
        assert REDIS_URL is not None
        async with Redis.from_url(REDIS_URL) as redis:
            await redis.delete(f"{prefix}:events")


async def test_ids_are_unique_and_sort_as_strings(make_bus: BusFactory) -> None:
    bus = make_bus(1000)
    events = [await bus.publish(make_event("sync.progress", run_id=1)) for _ in range(50)]
    ids = [e["id"] for e in events]
    assert len(set(ids)) == 50 and ids == sorted(ids)
    assert all(normalize_id(i) == i and normalize_id(stream_id(i)) == i for i in ids)


async def test_listeners_and_subscriptions_get_events_published_after_start(
    make_bus: BusFactory,
) -> None:
    publisher = make_bus(1000)
    # Two "processes" with Redis; one in-process bus is only ever seen by its own process.
    reader = make_bus(1000) if isinstance(publisher, RedisEventBus) else publisher
    await publisher.publish(make_event("sync.queued", run_id=1))  # before: not delivered
    await reader.start()
    seen: list[Event] = []
    remove = reader.add_listener(seen.append)
    async with reader.subscribe(maxsize=10) as subscription:
        sent = await publisher.publish(make_event("sync.started", run_id=1, data={"a": 1}))
        async with asyncio.timeout(5):
            got = await subscription.get()
    assert got == sent
    assert seen == [sent]
    remove()
    await publisher.publish(make_event("sync.completed", run_id=1))
    await asyncio.sleep(0.05)
    assert seen == [sent]


async def test_replay_returns_what_came_after_an_id(make_bus: BusFactory) -> None:
    bus = make_bus(1000)
    sent = [await bus.publish(make_event("sync.progress", run_id=i)) for i in range(6)]
    replay = await bus.replay(sent[2]["id"])
    assert replay.events == sent[3:] and replay.complete
    assert (await bus.replay(sent[-1]["id"])).events == []
    partial = await bus.replay(sent[0]["id"], limit=2)
    assert partial.events == sent[1:3] and not partial.complete


async def test_replay_reports_a_gap_when_the_buffer_no_longer_reaches_back(
    make_bus: BusFactory,
) -> None:
    bus = make_bus(5)
    sent = [await bus.publish(make_event("sync.progress", run_id=1)) for _ in range(400)]
    old = await bus.replay(sent[0]["id"])
    assert not old.complete
    recent = await bus.replay(sent[-3]["id"])
    assert recent.complete and recent.events == sent[-2:]


def test_ids_parse_and_reject_garbage() -> None:
    assert parse_id("1718000000123-4") == (1718000000123, 4)
    assert normalize_id("1718000000123-4") == "1718000000123-000004"
    with pytest.raises(ValueError):
        parse_id("yesterday")
    with pytest.raises(ValueError):
        make_event("progress")


async def test_build_event_bus_follows_the_settings(tmp_path: object) -> None:
    memory = build_event_bus(Settings(_env_file=None, redis_url=None))  # type: ignore[call-arg]
    assert isinstance(memory, MemoryEventBus)
    redis_bus = build_event_bus(
        Settings(_env_file=None, redis_url="redis://127.0.0.1:1/0", redis_prefix="x")  # type: ignore[call-arg]
    )
    assert isinstance(redis_bus, RedisEventBus) and redis_bus.key == "x:events"
    await redis_bus.aclose()
