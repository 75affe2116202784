"""Admission control: each API process admits a bounded number of requests at once.

Why: an API process is one event loop on one CPU. Past its capacity, requests that are accepted
anyway only queue (in the loop, in the database pool), every one of them gets slower, clients time
out and retry, and the process ends up spending its CPU on answers nobody waits for any more
(congestion collapse: BENCHMARKS.md, "load"). Refusing the excess at once keeps the admitted
requests fast and tells the others, cheaply, to come back: ``503`` with ``Retry-After`` and a JSON
``detail``, answered in well under a millisecond of CPU.

:class:`AdmissionMiddleware` (pure ASGI, so that a refusal costs no Starlette request object):

- at most ``max_in_flight`` HTTP requests run at once in the process (``MAGFLOW_MAX_IN_FLIGHT``);
  a request counts from the moment it is admitted until its response is fully sent (a streamed
  export holds its slot while it streams);
- a request arriving when all slots are taken may wait for one, first come first served, for
  at most ``queue_wait`` seconds (``MAGFLOW_ADMISSION_QUEUE_WAIT_SECONDS``): a burst, or a stall
  of a few tens of milliseconds (a slow query, a garbage collection, the CPU taken by another
  process), delays requests instead of refusing them. But a request is only queued when it can
  *expect* a slot soon: with ``k`` requests waiting before it and slots held ``h`` seconds on
  average (:attr:`AdmissionMiddleware.mean_hold`, a moving average of the admitted requests'
  times in a slot), a slot should come its way after about ``(k + 1) * h / max_in_flight``;
  beyond half of ``queue_wait`` (:data:`QUEUE_FILL`), or with :data:`WAITING_PER_SLOT` requests
  per slot already waiting, the answer is ``503`` at once. So in an overload the queue holds
  about half of ``queue_wait`` of work, which keeps a request at hand for every slot that frees
  up (the process serves at its capacity), and the excess is refused on arrival instead of
  after waiting in vain. A wait that outlasts ``queue_wait`` anyway (a stall longer than the
  estimate) ends in the ``503`` too. Why not a short fixed wait and a small queue: at 6 slots, a
  6-place queue with a 25 ms wait refused 1-4 % of the requests at half the machine's capacity,
  at p95 latencies of 10-60 ms (BENCHMARKS.md, the eighth issue 18 session);
- the full ``queue_wait`` is for a *passing* queue. A queue that has not emptied for
  :data:`STANDING_AFTER_SECONDS` is a standing one: the process is overloaded, not stalled for a
  moment, and waiting only delays the same ``503`` (and every admitted request behind it). A
  newcomer then may wait :data:`STANDING_WAIT_SECONDS` at most, and the queue counts as standing
  until :data:`STANDING_AFTER_SECONDS` have passed with no refusal (the controlled delay of
  Maurer, "Fail at scale", ACM Queue 13(8), 2015: a long timeout while the queue keeps
  emptying, a short one once it stands). Measured at 2x capacity (BENCHMARKS.md, the tenth
  issue 18 session): with no queue at all, the refused requests' p95 was half and the
  throughput higher than with the full wait for everyone, but a process with no queue refuses
  requests well below its capacity whenever it stalls;
- never held back: WebSocket and lifespan scopes, ``/health`` and ``/metrics`` (a load balancer
  must see a busy process as alive, not dead), the dashboard's static files (no database, a few
  kilobytes from the page cache: a page whose fragments were refused should still render) and the
  dashboard's own calls to the API (``web/client.py`` marks their scope with
  :data:`IN_PROCESS`): the page that makes them holds a slot already, and refusing its calls
  would turn an admitted page load into an error page (with every slot held by pages waiting for
  their own API calls, no page could finish at all); and the paths given as ``also_exempt``, which
  have a gate of their own (the login: ``auth/gate.py`` answers a flood with ``429``, and its
  password checks run in threads, not on the event loop).

A browser loading a dashboard page gets the ``503`` as a small page that reloads itself after
``Retry-After`` instead of the JSON answer: a logged-in user's page load is answered at once and
retried, never left hanging.

The database pool's wait is bounded too (``MAGFLOW_DB_POOL_TIMEOUT_SECONDS``, ``db/engine.py``):
its ``TimeoutError`` becomes the same ``503`` (``common/errors.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable

import orjson
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

#: Set in the scope of a request the app makes to itself (the dashboard's API calls): such a
#: request is part of one already admitted. Only code in the process can set it.
IN_PROCESS = "magflow.in_process"
#: Requests that may wait for a slot, per slot (beyond them: ``503`` at once), whatever the
#: expected wait: a bound on the memory a flood can take.
WAITING_PER_SLOT = 4
#: Weight of the newest request in :attr:`AdmissionMiddleware.mean_hold` (an exponential moving
#: average: about the last 20 requests count), and the longest time in a slot it counts, so that
#: a streamed export holding its slot for minutes does not make the process refuse everything.
HOLD_WEIGHT = 0.05
HOLD_SAMPLE_MAX_SECONDS = 1.0
#: The share of ``queue_wait`` a request must expect to wait at most to be queued: the estimate
#: is an average, and a request expecting to wait nearly all of ``queue_wait`` would often end
#: up refused after waiting it (at 2x capacity, with the whole of it: a tenth of the refusals
#: came after the full wait, shed requests' p95 138 ms).
QUEUE_FILL = 0.5
#: A queue that has not emptied for this long stands (see the module's docstring): longer than
#: the stalls the queue is for (tens of milliseconds), short beside an overload.
STANDING_AFTER_SECONDS = 0.2
#: How long a newcomer may wait for a slot while the queue stands: a few milliseconds, enough to
#: keep a request at hand for each slot that frees up, so that the process still serves at its
#: capacity.
STANDING_WAIT_SECONDS = 0.005
#: ``mean_hold`` before any request has finished.
INITIAL_HOLD_SECONDS = 0.01
ADMISSION_REFUSED = Counter(
    "magflow_admission_refused_total",
    'HTTP requests answered 503 by the admission control, on arrival (waited="false") or after '
    'waiting for a slot in vain (waited="true"), and why: reason="queue_full" (every place in '
    'the queue taken), "no_slot_in_time" (no slot to expect within the wait), "overloaded" (the '
    'queue stands, and no slot to expect within its short wait) or "waited_in_vain".',
    ["waited", "reason"],
)
_QUEUE_FULL = ADMISSION_REFUSED.labels(waited="false", reason="queue_full")
_NO_SLOT_IN_TIME = ADMISSION_REFUSED.labels(waited="false", reason="no_slot_in_time")
_OVERLOADED = ADMISSION_REFUSED.labels(waited="false", reason="overloaded")
_WAITED_IN_VAIN = ADMISSION_REFUSED.labels(waited="true", reason="waited_in_vain")
ADMISSION_IN_FLIGHT = Gauge(
    "magflow_admission_in_flight", "HTTP requests holding an admission slot now."
)
ADMISSION_WAITING = Gauge("magflow_admission_waiting", "HTTP requests waiting for a slot now.")
#: Seconds a refused client is asked to wait before trying again.
RETRY_AFTER_SECONDS = 1
#: Paths never refused: exact paths, and prefixes.
EXEMPT_PATHS = frozenset({"/health", "/metrics"})
#: eMAG's callbacks (``/callbacks/``) are bounded by their own gate instead, which makes them
#: wait rather than refuses them (``intake.throttle``): eMAG sends them in bursts.
EXEMPT_PREFIXES = ("/static/", "/callbacks/")


#: What a browser loading a page gets instead of the JSON answer: the same 503, as a page that
#: reloads itself after ``Retry-After`` (a meta refresh: no script, so the page's CSP allows it).
BUSY_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8>"
    f'<meta http-equiv="refresh" content="{RETRY_AFTER_SECONDS}">'
    "<title>MagFlow is busy</title></head><body><p>MagFlow is busy right now; this page "
    f"reloads in {RETRY_AFTER_SECONDS} s.</p></body></html>"
).encode()


def wants_html(scope: Scope) -> bool:
    """A browser navigating to a page (``Accept: text/html...``), not an API or htmx call."""
    accept = b""
    for name, value in scope.get("headers", ()):
        if name == b"hx-request":
            return False
        if name == b"accept":
            accept = value
    return accept.startswith(b"text/html")


def busy_response_parts(detail: str, html: bool = False) -> tuple[dict[str, object], bytes]:
    """The start message and body of a ``503`` telling the client to retry later."""
    body = BUSY_PAGE if html else orjson.dumps({"detail": detail})
    content_type = b"text/html; charset=utf-8" if html else b"application/json"
    start: dict[str, object] = {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            (b"cache-control", b"no-store"),
        ],
    }
    return start, body


class AdmissionMiddleware:
    """Bounds the HTTP requests in flight in this process; the excess gets ``503`` at once."""

    def __init__(
        self,
        app: ASGIApp,
        max_in_flight: int,
        queue_wait: float,
        also_exempt: Iterable[str] = (),
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.app = app
        self.exempt_paths = EXEMPT_PATHS | frozenset(also_exempt)
        self.max_in_flight = max_in_flight
        self.queue_wait = max(0.0, queue_wait)
        self.max_waiting = WAITING_PER_SLOT * max_in_flight
        self.in_flight = 0
        self.admitted = 0
        self.refused = 0
        #: Refusals that waited for a slot first (the others were refused on arrival).
        self.refused_after_wait = 0
        #: Seconds an admitted request holds its slot, on average (see the module's docstring).
        self.mean_hold = INITIAL_HOLD_SECONDS
        # Futures of the requests waiting for a slot, oldest first. A slot freed while some wait
        # is handed to the oldest one (its future resolves True) rather than released, so that a
        # newcomer cannot overtake the queue.
        self._waiting: deque[asyncio.Future[bool]] = deque()
        # Event-loop time when the queue last went from empty to not empty (read only while it
        # is not empty): how long it has stood. Until ``_standing_until`` the queue counts as
        # standing (see :meth:`wait_allowed`).
        self._queue_since = 0.0
        self._standing_until = 0.0
        # The gauges read this process's middleware (one per app; the last one made in tests).
        ADMISSION_IN_FLIGHT.set_function(lambda: self.in_flight)
        ADMISSION_WAITING.set_function(lambda: self.waiting)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or IN_PROCESS in scope or self._exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        if not await self._acquire():
            self.refused += 1
            await self._refuse(send, wants_html(scope))
            return
        self.admitted += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await self.app(scope, receive, send)
        finally:
            held = min(loop.time() - started, HOLD_SAMPLE_MAX_SECONDS)
            self.mean_hold += HOLD_WEIGHT * (held - self.mean_hold)
            self._release()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return len(self._waiting)

    def expected_wait(self, position: int) -> float:
        """Seconds until a slot comes to the request ``position`` places from the queue's head
        (0: the next slot freed), slots freeing up one every ``mean_hold / max_in_flight``."""
        return (position + 1) * self.mean_hold / self.max_in_flight

    def wait_allowed(self, now: float) -> float:
        """Seconds a request arriving at event-loop time ``now`` may wait for a slot:
        ``queue_wait``, or :data:`STANDING_WAIT_SECONDS` while the queue stands.

        The queue stands from the moment it has not emptied for :data:`STANDING_AFTER_SECONDS`,
        and keeps standing while requests are refused (each refusal extends it by as much):
        under the short wait the queue empties often, which says nothing about the overload
        being over; that long with no refusal does."""
        if self._waiting and now - self._queue_since >= STANDING_AFTER_SECONDS:
            self._standing_until = now + STANDING_AFTER_SECONDS
        if now < self._standing_until:
            return min(STANDING_WAIT_SECONDS, self.queue_wait)
        return self.queue_wait

    def _refused_at(self, now: float) -> None:
        if now < self._standing_until:
            self._standing_until = now + STANDING_AFTER_SECONDS

    def _exempt(self, path: str) -> bool:
        return path in self.exempt_paths or path.startswith(EXEMPT_PREFIXES)

    async def _acquire(self) -> bool:
        if self.in_flight < self.max_in_flight and not self._waiting:
            self.in_flight += 1
            return True
        loop = asyncio.get_running_loop()
        now = loop.time()
        position = len(self._waiting)
        wait = self.wait_allowed(now)
        if position >= self.max_waiting:
            refusal = _QUEUE_FULL
        elif self.expected_wait(position) > QUEUE_FILL * wait:
            refusal = _OVERLOADED if now < self._standing_until else _NO_SLOT_IN_TIME
        else:
            refusal = None
        if refusal is not None:
            refusal.inc()
            self._refused_at(now)
            return False
        if not position:
            self._queue_since = now
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(waiter)
        expiry = loop.call_later(wait, self._expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # The client went away while waiting. If a slot had just been handed over, give it on.
            if waiter.cancelled():
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
            elif waiter.result():
                self._release()
            raise
        finally:
            expiry.cancel()

    def _expire(self, waiter: asyncio.Future[bool]) -> None:
        if not waiter.done():
            waiter.set_result(False)
            self._waiting.remove(waiter)
            self.refused_after_wait += 1
            _WAITED_IN_VAIN.inc()
            self._refused_at(asyncio.get_running_loop().time())

    def _release(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            # A waiter whose client went away is cancelled at once, but leaves the queue only
            # when its task runs again: skip it.
            if not waiter.done():
                waiter.set_result(True)  # the slot passes to it; in_flight is unchanged
                return
        self.in_flight -= 1

    async def _refuse(self, send: Send, html: bool) -> None:
        start, body = busy_response_parts(
            f"the server is busy ({self.max_in_flight} requests in flight in this process); "
            f"retry after {RETRY_AFTER_SECONDS} s",
            html,
        )
        await send(start)
        await send({"type": "http.response.body", "body": body})
