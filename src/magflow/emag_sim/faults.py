"""Fault injection, reproducible from a seed (see :class:`~magflow.emag_sim.config.FaultConfig`).

One ``random.Random(seed)`` draw per eligible request picks at most one fault, in the fixed order
429, 500, 502, 504, timeout, malformed, is_error, slow, count_zero, count_unparseable,
count_missing. The same seed and the same sequence of requests give the same faults. When every
probability is 0 nothing is drawn. The ``count_*`` faults apply to ``{resource}/count`` routes
only: elsewhere their probabilities count as 0.

``vendor_ip_refused`` is not drawn: the accounts it names get eMAG's IP refusal on every call
(:func:`vendor_ip_refusal`).

Faults are decided *before* the request is processed, after authentication and the real rate
limit (``edit_after_read`` excepted: it is drawn per order after an ``order/read`` is answered).
Every fault but ``slow`` answers without touching the handler, so a faulted write is never
applied; a ``slow`` answer is processed normally after its delay.
"""

from __future__ import annotations

import random
import threading

from magflow.emag_sim.config import FaultConfig

ORDER = ("rate_429", "error_500", "error_502", "error_504", "timeout", "malformed", "is_error",
         "slow", "count_zero", "count_unparseable", "count_missing")  # fmt: skip
#: Faults of a ``{resource}/count`` answer only.
COUNT_FAULTS = frozenset({"count_zero", "count_unparseable", "count_missing"})

# Bodies of the gateway-level faults (docs/emag-protocol.md, "Answers and errors": 5xx are
# transient; Kong's own messages).
BODY_429 = b'{"message":"API rate limit exceeded"}'
BODY_500 = b'{"message":"An unexpected error occurred"}'
BODY_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
BODY_504 = b'{"message":"The upstream server is timing out"}'
BODY_MALFORMED = b'{"isError":false,"messages":[],"results":[{"id":1,"status":'
IS_ERROR_MESSAGE = "An error occurred while processing your request. Please try again later."

# The ``results`` of a bad count (docs/emag-protocol.md, "Paging, counts and filters"): a success
# envelope whose count says 0, holds no number, or is absent (PHP's empty array, ``[]``).
COUNT_RESULTS: dict[str, object] = {
    "count_zero": {"noOfItems": "0", "noOfPages": "0", "itemsPerPage": "100"},
    "count_unparseable": {"noOfItems": "N/A", "noOfPages": "N/A", "itemsPerPage": "100"},
    "count_missing": [],
}


def vendor_ip_refused(config: FaultConfig, username: str) -> bool:
    """Whether eMAG refuses this account's calls for the caller's IP (``vendor_ip_refused``)."""
    names = config.vendor_ip_refused
    return "*" in names or username in names


def vendor_ip_refusal(client_ip: str) -> str:
    """eMAG's answer to a call from an IP the seller did not whitelist: HTTP 200 with
    ``isError: true`` and ``ERROR: Invalid vendor ip [x.x.x.x]`` quoting the caller's address
    (docs/emag-protocol.md, "Requests and authentication", "Answers and errors"). It is given on
    every route, after the rate limit counted the call (invalid requests count too,
    docs/emag-protocol.md, "Rate and size limits"), and it lasts until the seller acts: never
    drawn at random, never transient."""
    return f"ERROR: Invalid vendor ip [{client_ip}]"


def _seed(config: FaultConfig, default_seed: int) -> int:
    return config.seed if config.seed is not None else default_seed * 7919 + 17


class FaultInjector:
    """Draws faults; thread-safe; counts what it injected."""

    def __init__(self, config: FaultConfig, default_seed: int) -> None:
        self._lock = threading.Lock()
        self._default_seed = default_seed
        self.config = config
        self._rng = random.Random(_seed(config, default_seed))
        self.counts: dict[str, int] = {}

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration; the random sequence restarts from the (new) seed."""
        config.validate()
        with self._lock:
            self.config = config
            self._rng = random.Random(_seed(config, self._default_seed))

    def reset_counts(self) -> None:
        with self._lock:
            self.counts = {}

    def draw_edit(self) -> bool:
        """Whether one order just read is edited eMAG-side (``edit_after_read``); counted."""
        probability = float(self.config.edit_after_read)
        if not probability:
            return False
        with self._lock:
            hit = self._rng.random() < probability
            if hit:
                self.counts["edit_after_read"] = self.counts.get("edit_after_read", 0) + 1
        return hit

    def draw(self, route: str) -> str | None:
        cfg = self.config
        if cfg.routes and not any(route.startswith(prefix) for prefix in cfg.routes):
            return None
        is_count = route.endswith("/count")
        probabilities = [
            0.0 if name in COUNT_FAULTS and not is_count else float(getattr(cfg, name))
            for name in ORDER
        ]
        if not any(probabilities):
            return None
        with self._lock:
            u = self._rng.random()
            acc = 0.0
            for name, p in zip(ORDER, probabilities, strict=True):
                acc += p
                if u < acc:
                    self.counts[name] = self.counts.get(name, 0) + 1
                    return name
        return None
