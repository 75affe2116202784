"""Prometheus metrics of eMAG calls (default registry) and the per-client :class:`ClientStats`.

``route`` labels are normalised (numeric path segments become ``{id}``) to keep cardinality low.
``status`` is the HTTP status code, or ``timeout`` / ``network`` when no response came back.
``reason`` of a retry is one of ``rate_limited``, ``server_error``, ``timeout``, ``network``,
``malformed``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter as PromCounter

CALLS = PromCounter(
    "magflow_emag_calls_total", "HTTP requests sent to the eMAG API.", ["route", "status"]
)
RETRIES = PromCounter(
    "magflow_emag_retries_total", "eMAG API requests retried.", ["route", "reason"]
)
RATE_LIMITED = PromCounter(
    "magflow_emag_rate_limited_total", "eMAG API answers with HTTP 429.", ["route"]
)

_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


def metric_route(route: str) -> str:
    """``order/acknowledge/123`` → ``order/acknowledge/{id}``, ``offer_stock/7`` → ``…/{id}``."""
    path = route.split("?", 1)[0].strip("/")
    return _ID_SEGMENT.sub("/{id}", "/" + path).lstrip("/")


@dataclass
class ClientStats:
    """Counters of one client, read by the sync engine for its run log.

    - ``api_calls``: HTTP requests sent (every attempt, retries included);
    - ``retries``: attempts repeated after a retryable failure;
    - ``rate_limited``: 429 answers;
    - ``errors``: failed attempts by kind (``auth``, ``validation``, ``rate_limited``,
      ``transient``) — including those that were retried;
    - ``rate_wait_seconds``: time spent waiting for the rate limiter;
    - ``max_send_lag``: the longest delay seen between a slot grant and the request actually
      being written (must stay well below the limiter margin).
    """

    api_calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    calls_by_route: Counter[str] = field(default_factory=Counter)
    rate_wait_seconds: float = 0.0
    max_send_lag: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "api_calls": self.api_calls,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "errors": dict(self.errors),
            "calls_by_route": dict(self.calls_by_route),
            "rate_wait_seconds": round(self.rate_wait_seconds, 3),
            "max_send_lag": round(self.max_send_lag, 4),
        }

    def reset(self) -> None:
        self.api_calls = self.retries = self.rate_limited = 0
        self.errors.clear()
        self.calls_by_route.clear()
        self.rate_wait_seconds = self.max_send_lag = 0.0
