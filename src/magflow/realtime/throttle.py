"""A progress throttle for publishers (the sync engine, bulk jobs).

The engine may report progress after every page (several a second). Screens need at most one
update a second per run, but they must never miss where a run ended. Rules, per run
(``(kind, run_id)``, e.g. ``("sync", 7)``):

- ``*.progress``: at most one per ``interval`` (1 s). One that comes sooner is held back as the
  run's *pending* progress (replacing an older pending one) and is published when the interval is
  up, by a timer, so the last state is shown even if the run then goes quiet.
- milestones at 25 / 50 / 75 / 100 %: when a progress event crosses one (from
  ``data["percentage"]``, or ``processed_items`` / ``total_items``), that progress is published at
  once, followed by ``<kind>.milestone`` with ``{"milestone": 25, ...}``. Milestone events the
  publisher sends itself are passed through, each milestone once per run.
- terminal events (``completed`` / ``failed`` / ``cancelled``) always go out, right after any
  pending progress of the run, so the last progress before the end is never lost.
- anything else (``sync.queued``, ``sync.started``, ``bulk.*`` without a run) goes straight through.

Publishing is serialised by a lock so that a pending progress can never overtake the terminal
event of its run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from magflow.realtime.bus import EventBus
from magflow.realtime.events import Event, is_progress, is_terminal, make_event, run_key

MILESTONES = (25, 50, 75, 100)


@dataclass
class _RunState:
    last_sent: float = float("-inf")
    pending: Event | None = None
    timer: asyncio.Task[None] | None = None
    milestones: set[int] = field(default_factory=set)


def _percentage(data: dict[str, Any]) -> float | None:
    value = data.get("percentage")
    if isinstance(value, int | float):
        return float(value)
    processed, total = data.get("processed_items"), data.get("total_items")
    if isinstance(processed, int | float) and isinstance(total, int | float) and total > 0:
        return 100.0 * processed / total
    return None


class ProgressThrottle:
    """Publishes through ``bus`` following the rules in the module docstring."""

    def __init__(
        self,
        bus: EventBus,
        *,
        interval: float = 1.0,
        milestones: Sequence[int] = MILESTONES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.interval = interval
        self.milestones = tuple(sorted(milestones))
        self._clock = clock
        self._runs: dict[tuple[str, int], _RunState] = {}
        self._lock = asyncio.Lock()

    async def publish(
        self,
        type: str,
        *,
        run_id: int | None = None,
        account_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event | None:
        """Build and publish an event; returns it, or None when it was held back or suppressed."""
        event = make_event(type, run_id=run_id, account_id=account_id, data=data)
        return await self.publish_event(event)

    async def publish_event(self, event: Event) -> Event | None:
        key = run_key(event)
        async with self._lock:
            if key is None:
                return await self.bus.publish(event)
            state = self._runs.setdefault(key, _RunState())
            if is_terminal(event["type"]):
                await self._flush_pending(state)
                self._forget(key)
                return await self.bus.publish(event)
            if event["type"].endswith(".milestone"):
                milestone = event["data"].get("milestone")
                if isinstance(milestone, int) and milestone in state.milestones:
                    return None
                await self._flush_pending(state)
                if isinstance(milestone, int):
                    state.milestones.add(milestone)
                return await self.bus.publish(event)
            if not is_progress(event["type"]):
                await self._flush_pending(state)
                return await self.bus.publish(event)
            return await self._progress(key, state, event)

    async def _progress(self, key: tuple[str, int], state: _RunState, event: Event) -> Event | None:
        percentage = _percentage(event["data"])
        crossed = [
            m
            for m in self.milestones
            if percentage is not None and percentage >= m and m not in state.milestones
        ]
        now = self._clock()
        if not crossed and now - state.last_sent < self.interval:
            state.pending = event
            if state.timer is None or state.timer.done():
                delay = state.last_sent + self.interval - now
                state.timer = asyncio.create_task(self._flush_later(key, delay))
            return None
        self._cancel_timer(state)
        state.pending = None
        state.last_sent = now
        published = await self.bus.publish(event)
        for milestone in crossed:
            state.milestones.add(milestone)
            await self.bus.publish(
                make_event(
                    f"{key[0]}.milestone",
                    run_id=event["run_id"],
                    account_id=event["account_id"],
                    data={**event["data"], "milestone": milestone},
                )
            )
        return published

    async def _flush_later(self, key: tuple[str, int], delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))
        async with self._lock:
            state = self._runs.get(key)
            if state is not None and state.timer is asyncio.current_task():
                state.timer = None
                await self._flush_pending(state)

    async def _flush_pending(self, state: _RunState) -> None:
        if state.pending is not None:
            pending, state.pending = state.pending, None
            state.last_sent = self._clock()
            await self.bus.publish(pending)

    def _cancel_timer(self, state: _RunState) -> None:
        if state.timer is not None and state.timer is not asyncio.current_task():
            state.timer.cancel()
        state.timer = None

    def _forget(self, key: tuple[str, int]) -> None:
        state = self._runs.pop(key, None)
        if state is not None:
            self._cancel_timer(state)

    async def flush(self) -> None:
        """Publish every pending progress now (e.g. before a worker exits)."""
        async with self._lock:
            for state in self._runs.values():
                self._cancel_timer(state)
                await self._flush_pending(state)

    async def aclose(self) -> None:
        await self.flush()
        timers = [s.timer for s in self._runs.values() if s.timer is not None]
        for timer in timers:
            timer.cancel()
        for timer in timers:
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        self._runs.clear()
