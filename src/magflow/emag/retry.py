"""Retry policy for eMAG calls: exponential backoff with full jitter
(docs/emag-protocol.md, "Answers and errors", "Rate and size limits").

Retried: 429, 5xx, timeouts, connection errors and malformed bodies. Never retried: validation
(``isError``/4xx) and auth errors, which would fail the same way again (and still count against the
rate limit, docs/emag-protocol.md, "Rate and size limits"). ``ERROR: Invalid vendor ip [...]``
(:class:`~magflow.emag.errors.EmagIpNotWhitelistedError`, an auth error) above all: it lasts until
the seller whitelists the server's IP, so no retry, here or in a caller's loop, can succeed
(docs/emag-protocol.md, "Answers and errors").

Non-idempotent writes (``order/save``, ``order/attachments/save``, ``awb/save``) could be applied
twice if a request that reached eMAG is repeated. For those the client retries only when the
request certainly was not processed: a 429 (Kong refuses before the backend), a 502/503, or a
failure before the request was sent (connect error, connection-pool timeout). It does not retry
them after a read/write timeout, a dropped connection, a 500/504 or a malformed answer, where eMAG
may have done the work; the error is raised for the caller to check (for instance re-read the
order or ``awb/read``) before trying again. ``RetryPolicy.retry_unsafe_writes=True`` or the
per-call ``retry_unsafe=True`` lifts that restriction.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from magflow.emag.errors import EmagError, EmagRateLimitedError, EmagTransientError


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try; ``max_elapsed`` bounds the total time spent, waits
    included (a retry whose delay would cross it is not made). The n-th retry sleeps a uniform
    random time in ``[0, min(max_delay, base_delay * 2**(n-1))]`` (full jitter)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_elapsed: float = 120.0
    retry_unsafe_writes: bool = False

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, retry_number - 1)))
        return (rng or random).uniform(0.0, cap)

    def reason(self, error: EmagError, *, idempotent: bool) -> str | None:
        """The retry reason for ``error`` (a metrics label), or None when it must not be retried."""
        if isinstance(error, EmagRateLimitedError):
            return "rate_limited"
        if isinstance(error, EmagTransientError):
            if not idempotent and error.maybe_processed and not self.retry_unsafe_writes:
                return None
            return error.reason
        return None


NO_RETRY = RetryPolicy(max_attempts=1)
