"""Limits on the public callback endpoint: a per-address limit on unknown secrets, and a bound on
the callbacks one process handles at once.

Why: ``/callbacks/emag/{secret}/...`` needs no login (eMAG sends no credentials,
docs/emag-protocol.md, "Callbacks"), so it is where someone would guess secrets. A secret has 192
random bits, so guessing is hopeless anyway; the limit tells a guesser so: after ``per_minute``
unknown secrets in a minute from one address, that address gets ``429`` for its unknown secrets
until the minute has passed. The secret is still looked up (one indexed query, under the slots
below): behind a reverse proxy eMAG and the guesser share an address, and eMAG's callbacks must
keep getting through. The limit is per process (a guesser spread over processes gets that many
tries in each).

Known secrets are never limited: eMAG may send bursts (every new order, and the repeats until each
is acknowledged). They wait for one of ``concurrency`` slots instead of being refused, so that a
burst of a thousand callbacks is absorbed, each answered in a few milliseconds, and the database
pool is never exhausted by them.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque


class UnknownSecretThrottle:
    def __init__(self, per_minute: int, *, window: float = 60.0, max_addresses: int = 10_000):
        self.per_minute = per_minute
        self.window = window
        self.max_addresses = max_addresses
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        hits = self._hits.get(address)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            del self._hits[address]
            return None
        return hits

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        now = time.monotonic()
        hits = self._recent(address, now)
        if hits is None or len(hits) < self.per_minute:
            return None
        return max(1, int(hits[0] + self.window - now) + 1)

    def hit(self, address: str) -> None:
        now = time.monotonic()
        hits = self._recent(address, now) or deque()
        hits.append(now)
        self._hits[address] = hits
        self._hits.move_to_end(address)
        while len(self._hits) > self.max_addresses:
            self._hits.popitem(last=False)


class CallbackLimits:
    """The process's callback limits (see the module doc), kept on ``app.state``."""

    def __init__(self, concurrency: int, unknown_per_minute: int) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.unknown = UnknownSecretThrottle(unknown_per_minute)
