"""eMAG's per-account rate limits as Kong enforces them
(docs/emag-protocol.md, "Rate and size limits", "Answers and errors").

- order routes (``order/...``): 12 req/s and 720 req/min;
- ``documentation/find_by_eans``: 5 req/s, 200 req/min and 5000 req/day (its own bucket);
- everything else: 3 req/s and 180 req/min, counted together.

Counting is in FIXED windows aligned to the wall-clock second, minute and (UTC) day, per account
(keyed by the Basic-auth username, so requests with wrong passwords count too: "invalid requests
will also be limited", docs/emag-protocol.md, "Rate and size limits"). A request over any limit gets
``429 {"message":"API rate limit exceeded"}`` and is not counted itself (Kong's behaviour: it
checks the usage before incrementing). Every answer carries Kong's headers,
``X-RateLimit-Limit-<window>`` and ``X-RateLimit-Remaining-<window>`` with window ``second``,
``minute`` (and ``day`` for the EAN bucket). [DOC] shows ``X-RateLimit-*-3second``; we name the
headers after the windows we actually count. No ``Retry-After`` header, as in [DOC].
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

ORDER = "order"
OTHER = "other"
EAN = "ean"

# bucket → ((window name, window seconds, limit), ...)
LIMITS: dict[str, tuple[tuple[str, int, int], ...]] = {
    ORDER: (("second", 1, 12), ("minute", 60, 720)),
    OTHER: (("second", 1, 3), ("minute", 60, 180)),
    EAN: (("second", 1, 5), ("minute", 60, 200), ("day", 86400, 5000)),
}


def bucket_for(route: str) -> str:
    """The limit bucket of a route such as ``order/read`` or ``product_offer/save``."""
    if route == "order" or route.startswith("order/"):
        return ORDER
    if route.startswith("documentation/find_by_eans"):
        return EAN
    return OTHER


@dataclass
class Decision:
    allowed: bool
    headers: dict[str, str]


class FixedWindowLimiter:
    """Counts requests per (account, bucket) in fixed windows; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # (key, bucket, window seconds) → [window index, count]
        self._counters: dict[tuple[str, str, int], list[int]] = {}
        self.rejected = 0

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()
            self.rejected = 0

    def hit(self, key: str, bucket: str) -> Decision:
        now = self._clock()
        limits = LIMITS[bucket]
        with self._lock:
            slots = []
            allowed = True
            for _name, seconds, limit in limits:
                index = int(now // seconds)
                slot = self._counters.get((key, bucket, seconds))
                if slot is None or slot[0] != index:
                    slot = [index, 0]
                    self._counters[(key, bucket, seconds)] = slot
                slots.append(slot)
                if slot[1] >= limit:
                    allowed = False
            if allowed:
                for slot in slots:
                    slot[1] += 1
            else:
                self.rejected += 1
            headers: dict[str, str] = {}
            for (name, _seconds, limit), slot in zip(limits, slots, strict=True):
                headers[f"X-RateLimit-Limit-{name}"] = str(limit)
                headers[f"X-RateLimit-Remaining-{name}"] = str(max(0, limit - slot[1]))
        return Decision(allowed, headers)
