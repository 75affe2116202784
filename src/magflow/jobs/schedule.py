"""Schedules: an interval (``300``, ``90s``, ``5m``, ``1h``, ``1d``) or a cron expression; and the
pause of an account's schedules after eMAG refused its IP (:func:`ip_refusal_pause_until`)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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


# -- pause after an IP refusal --------------------------------------------------------------------

#: How long an account's schedules wait after a run that eMAG refused with ``Invalid vendor ip``
#: (docs/emag-protocol.md, "Answers and errors"): the refusal lasts until the seller whitelists the
#: server's IP, so firing every period would only hammer eMAG (and its rate limit) with calls
#: bound to fail. A run started by a person is not held back; once it succeeds, schedules resume.
IP_REFUSAL_PAUSE = timedelta(hours=1)
#: The ``kind`` of a run's error entry for eMAG's IP refusal
#: (``magflow.emag.errors.EmagIpNotWhitelistedError``, as the sync engine records it).
IP_REFUSAL_KIND = "EmagIpNotWhitelistedError"


def ip_refusal(status: str, errors: Iterable[Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    """The error entry of a failed run that eMAG refused for the server's IP, or None."""
    if status != "failed":
        return None
    for entry in reversed(list(errors or [])):
        if entry.get("kind") == IP_REFUSAL_KIND:
            found: Mapping[str, Any] = entry
            return found
    return None


def ip_refusal_pause_until(
    status: str,
    errors: Iterable[Mapping[str, Any]] | None,
    finished_at: datetime | None,
    *,
    pause: timedelta = IP_REFUSAL_PAUSE,
) -> datetime | None:
    """Until when the account's schedules stay paused, given its latest run (either kind): the
    run's end plus ``pause`` when that run failed on eMAG's IP refusal, else None (not paused).

    Only the latest run counts: a later run that got through (the seller whitelisted the IP and
    someone started a sync) lifts the pause at once; a scheduled run after the pause that is
    refused again starts a new one, so eMAG sees one call per pause, not one per period."""
    if finished_at is None or ip_refusal(status, errors) is None:
        return None
    return finished_at + pause
