"""Schedules: an interval (``300``, ``90s``, ``5m``, ``1h``, ``1d``) or a cron expression."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter

_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Schedule:
    spec: str
    interval: timedelta | None
    cron: str | None

    @classmethod
    def parse(cls, spec: str) -> Schedule:
        match = _INTERVAL.match(spec)
        if match:
            seconds = int(match.group(1)) * _UNITS[match.group(2)]
            if seconds <= 0:
                raise ValueError(f"schedule interval must be positive: {spec!r}")
            return cls(spec, timedelta(seconds=seconds), None)
        if croniter.is_valid(spec):
            return cls(spec, None, spec)
        raise ValueError(
            f"not a schedule: {spec!r} (use an interval like 5m or 1h, or a cron expression)"
        )

    def next_after(self, last: datetime, *, jitter_seconds: float, seed: str) -> datetime:
        """When the next run is due after one that started at ``last``.

        A deterministic jitter in [0, jitter_seconds) per (seed) spreads accounts apart, as eMAG
        asks (avoid round times, docs/emag-protocol.md, "Rate and size limits"), and is stable
        across scheduler ticks.
        """
        jitter = timedelta(seconds=random.Random(seed).uniform(0, jitter_seconds))
        if self.interval is not None:
            return last + self.interval + jitter
        assert self.cron is not None
        due: datetime = croniter(self.cron, last).get_next(datetime)
        return due + jitter
