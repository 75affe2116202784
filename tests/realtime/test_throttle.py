"""The publishers' progress throttle, on the in-process bus with a controlled clock."""

from __future__ import annotations

from magflow.realtime.bus import MemoryEventBus
from magflow.realtime.events import Event
from magflow.realtime.throttle import ProgressThrottle
from tests.realtime.conftest import eventually


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recorder(bus: MemoryEventBus) -> list[Event]:
    seen: list[Event] = []
    bus.add_listener(seen.append)
    return seen


def summary(events: list[Event]) -> list[tuple[str, object]]:
    return [(e["type"], e["data"].get("milestone", e["data"].get("page"))) for e in events]


async def test_progress_at_most_once_per_interval_and_the_last_before_the_end_is_kept() -> None:
    bus, clock = MemoryEventBus(), Clock()
    seen = recorder(bus)
    throttle = ProgressThrottle(bus, interval=1.0, clock=clock)
    await throttle.publish("sync.started", run_id=1)
    for page in range(1, 6):  # five pages within the same second
        await throttle.publish("sync.progress", run_id=1, data={"page": page})
        clock.now += 0.1
    clock.now += 1.0
    await throttle.publish("sync.progress", run_id=1, data={"page": 6})
    await throttle.publish("sync.progress", run_id=1, data={"page": 7})  # held back...
    await throttle.publish("sync.completed", run_id=1)  # ...and flushed before the end
    assert summary(seen) == [
        ("sync.started", None),
        ("sync.progress", 1),
        ("sync.progress", 6),
        ("sync.progress", 7),
        ("sync.completed", None),
    ]
    await throttle.aclose()


async def test_runs_are_throttled_separately() -> None:
    bus, clock = MemoryEventBus(), Clock()
    seen = recorder(bus)
    throttle = ProgressThrottle(bus, clock=clock)
    await throttle.publish("sync.progress", run_id=1, data={"page": 1})
    await throttle.publish("sync.progress", run_id=2, data={"page": 1})
    await throttle.publish("bulk.progress", run_id=1, data={"page": 1})
    assert [(e["type"], e["run_id"]) for e in seen] == [
        ("sync.progress", 1),
        ("sync.progress", 2),
        ("bulk.progress", 1),
    ]
    await throttle.aclose()


async def test_milestones_once_each_and_progress_that_reaches_one_goes_out_at_once() -> None:
    bus, clock = MemoryEventBus(), Clock()
    seen = recorder(bus)
    throttle = ProgressThrottle(bus, clock=clock)
    for page, processed in enumerate((10, 30, 55, 60, 100), start=1):
        await throttle.publish(
            "sync.progress",
            run_id=1,
            data={"page": page, "processed_items": processed, "total_items": 100},
        )
    await throttle.publish("sync.milestone", run_id=1, data={"milestone": 50})  # already sent
    await throttle.publish("sync.failed", run_id=1)
    assert summary(seen) == [
        ("sync.progress", 1),
        ("sync.progress", 2),
        ("sync.milestone", 25),
        ("sync.progress", 3),
        ("sync.milestone", 50),
        ("sync.progress", 5),  # page 4 (60 %) was held back, then superseded by page 5
        ("sync.milestone", 75),
        ("sync.milestone", 100),
        ("sync.failed", None),
    ]


async def test_a_held_back_progress_is_published_when_the_interval_is_up() -> None:
    bus = MemoryEventBus()
    seen = recorder(bus)
    throttle = ProgressThrottle(bus, interval=0.05)
    await throttle.publish("sync.progress", run_id=1, data={"page": 1})
    await throttle.publish("sync.progress", run_id=1, data={"page": 2})
    assert summary(seen) == [("sync.progress", 1)]
    await eventually(lambda: len(seen) >= 2)
    assert summary(seen) == [("sync.progress", 1), ("sync.progress", 2)]
    await throttle.aclose()


async def test_events_without_a_run_pass_straight_through() -> None:
    bus = MemoryEventBus()
    seen = recorder(bus)
    throttle = ProgressThrottle(bus)
    for _ in range(3):
        await throttle.publish("bulk.progress", data={"done": 1})
    assert len(seen) == 3
