"""Events: what the sync engine, bulk jobs and workers publish, and every WebSocket client sees.

An event is a plain JSON-able dict (a :class:`Event` ``TypedDict``)::

    {"id": "1718000000123-000000", "type": "sync.progress", "run_id": 7, "account_id": 2,
     "ts": "2024-06-10T06:13:20.123000+00:00", "data": {...}}

**Ids** are ``<milliseconds since the epoch, 13 digits>-<sequence, 6 digits>``: the Redis stream
entry id, zero-padded so that ids compare correctly as strings (``"…-000010" > "…-000009"``).
With Redis the server assigns them (unique and monotonic across every process); in-process they
come from :class:`EventIdGenerator`, in the same format. Clients only need to keep the last id they
saw and send it back when they reconnect.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from typing import Any, Final, TypedDict

SYNC_TYPES: Final = frozenset(
    {
        "sync.queued",
        "sync.started",
        "sync.progress",
        "sync.milestone",
        "sync.completed",
        "sync.failed",
        "sync.cancelled",
    }
)
TERMINAL_SUFFIXES: Final = ("completed", "partial", "failed", "cancelled")

_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")


class Event(TypedDict):
    id: str
    type: str
    run_id: int | None
    account_id: int | None
    ts: str
    data: dict[str, Any]


def make_event(
    type: str,
    *,
    run_id: int | None = None,
    account_id: int | None = None,
    data: dict[str, Any] | None = None,
    ts: datetime | None = None,
) -> Event:
    """A new event without an id yet (``""``): the bus assigns it on publish."""
    if "." not in type:
        raise ValueError(f"event type must be namespaced like 'sync.progress', got {type!r}")
    return Event(
        id="",
        type=type,
        run_id=run_id,
        account_id=account_id,
        ts=(ts or datetime.now(UTC)).isoformat(),
        data=dict(data or {}),
    )


def is_terminal(event_type: str) -> bool:
    """completed / failed / cancelled, of a sync or a bulk job: never dropped, never throttled."""
    return event_type.rsplit(".", 1)[-1] in TERMINAL_SUFFIXES


def is_progress(event_type: str) -> bool:
    """Progress events may be throttled and coalesced (a later one supersedes an earlier one)."""
    return event_type.endswith(".progress")


def run_key(event: Event) -> tuple[str, int] | None:
    """What a progress event is the progress *of*: ``("sync", 7)``; None without a run id."""
    if event["run_id"] is None:
        return None
    return event["type"].split(".", 1)[0], event["run_id"]


def format_id(ms: int, seq: int) -> str:
    return f"{ms:013d}-{seq:06d}"


def parse_id(event_id: str) -> tuple[int, int]:
    """``"0001718000000123-000004"`` or a raw Redis id ``"1718000000123-4"`` → ``(ms, seq)``."""
    match = _ID.match(event_id.strip())
    if match is None:
        raise ValueError(f"not an event id: {event_id!r}")
    return int(match.group(1)), int(match.group(2))


def normalize_id(event_id: str) -> str:
    """Any accepted spelling of an id → the canonical, string-sortable one."""
    return format_id(*parse_id(event_id))


def stream_id(event_id: str) -> str:
    """The Redis stream spelling of an event id (no padding)."""
    ms, seq = parse_id(event_id)
    return f"{ms}-{seq}"


class EventIdGenerator:
    """Monotonic ids for the in-process bus, in the Redis stream format (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = 0
        self._seq = -1

    def next(self) -> str:
        with self._lock:
            now = time.time_ns() // 1_000_000
            if now > self._ms:
                self._ms, self._seq = now, 0
            else:  # same millisecond, or the clock went back: keep counting on the last one
                self._seq += 1
            return format_id(self._ms, self._seq)
