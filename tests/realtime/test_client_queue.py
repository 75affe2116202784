"""A slow client's queue: coalescing progress, keeping everything else, overflowing at last."""

from __future__ import annotations

from magflow.realtime.events import Event, make_event
from magflow.realtime.hub import ClientQueue, Item

_ids = iter(range(1, 1_000_000))


def item(type: str, run_id: int | None, **data: object) -> Item:
    event: Event = {**make_event(type, run_id=run_id, data=dict(data)), "id": f"{next(_ids):06d}"}
    return Item(event, "")


def drain(queue: ClientQueue) -> list[tuple[str, int | None, object]]:
    out = []
    while (next_item := queue.get_nowait()) is not None:
        event = next_item.event
        out.append((event["type"], event["run_id"], event["data"].get("n")))
    return out


def test_below_the_limit_everything_is_queued() -> None:
    queue = ClientQueue(maxsize=10)
    for n in range(5):
        queue.put(item("sync.progress", 1, n=n))
    assert len(queue) == 5 and queue.coalesced == 0


def test_when_full_progress_of_a_run_replaces_its_older_progress() -> None:
    queue = ClientQueue(maxsize=3)
    queue.put(item("sync.progress", 1, n=1))
    queue.put(item("sync.started", 2))
    queue.put(item("sync.progress", 2, n=1))
    queue.put(item("sync.progress", 1, n=2))
    queue.put(item("sync.progress", 1, n=3))
    assert drain(queue) == [
        ("sync.started", 2, None),
        ("sync.progress", 2, 1),
        ("sync.progress", 1, 3),
    ]
    assert queue.coalesced == 2


def test_terminal_events_are_never_dropped_but_overflow_is_bounded() -> None:
    queue = ClientQueue(maxsize=2, overflow_limit=5)
    queue.put(item("sync.progress", 1, n=1))
    queue.put(item("sync.progress", 2, n=1))
    queue.put(item("sync.progress", 3, n=1))  # no room, nothing to coalesce with: dropped
    assert queue.dropped == 1
    for run_id in (1, 2, 3):
        queue.put(item("sync.completed", run_id))
    assert [kind for kind, _, _ in drain(queue)] == [
        "sync.progress",
        "sync.progress",
        "sync.completed",
        "sync.completed",
        "sync.completed",
    ]
    for run_id in range(6):
        queue.put(item("sync.failed", run_id))
    assert queue.overflowed and len(queue) == 0
