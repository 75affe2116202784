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
- a request arriving when all slots are taken waits for one at most ``queue_wait`` seconds
  (``MAGFLOW_ADMISSION_QUEUE_WAIT_SECONDS``), first come first served, with at most
  ``max_in_flight`` waiting; a short wait absorbs the bursts of an open-loop arrival (requests
  never arrive evenly) without letting a queue build up. Beyond the wait, or when the queue is
  full, the answer is ``503`` at once;
- once ``max_in_flight`` waits have ended in a refusal (or found the queue full) within
  :data:`STRICT_SECONDS`, the process is overloaded rather than hit by a burst: for
  :data:`STRICT_SECONDS` after that, a request finding every slot taken is refused at once,
  without the wait (which would only delay its ``503``: at 2x capacity, shed requests' p95 was
  57 ms with every one of them allowed to wait, 18 ms refused at once). A lone refusal, the
  tail of a burst, does not make the process strict (a strict second after every burst refused
  more than 1 % of the requests at two thirds of the capacity);
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
from starlette.types import ASGIApp, Receive, Scope, Send

#: Set in the scope of a request the app makes to itself (the dashboard's API calls): such a
#: request is part of one already admitted. Only code in the process can set it.
IN_PROCESS = "magflow.in_process"
#: The window in which ``max_in_flight`` refused waits make the process strict, and how long
#: excess requests are then refused without waiting.
STRICT_SECONDS = 1.0
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
        strict_seconds: float = STRICT_SECONDS,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.app = app
        self.exempt_paths = EXEMPT_PATHS | frozenset(also_exempt)
        self.max_in_flight = max_in_flight
        self.queue_wait = max(0.0, queue_wait)
        self.max_waiting = max_in_flight
        self.strict_seconds = strict_seconds
        self.in_flight = 0
        self.admitted = 0
        self.refused = 0
        #: Refusals that waited for a slot first (the others were refused on arrival).
        self.refused_after_wait = 0
        # Loop time until which excess requests are refused without waiting, and the loop times
        # of the refusals of the last strict_seconds that decide it.
        self._strict_until = float("-inf")
        self._recent_refusals: deque[float] = deque()
        # Futures of the requests waiting for a slot, oldest first. A slot freed while some wait
        # is handed to the oldest one (its future resolves True) rather than released, so that a
        # newcomer cannot overtake the queue.
        self._waiting: deque[asyncio.Future[bool]] = deque()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or IN_PROCESS in scope or self._exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        if not await self._acquire():
            self.refused += 1
            await self._refuse(send, wants_html(scope))
            return
        self.admitted += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return sum(1 for waiter in self._waiting if not waiter.done())

    def _exempt(self, path: str) -> bool:
        return path in self.exempt_paths or path.startswith(EXEMPT_PREFIXES)

    async def _acquire(self) -> bool:
        if self.in_flight < self.max_in_flight and not self._waiting:
            self.in_flight += 1
            return True
        loop = asyncio.get_running_loop()
        if self.queue_wait <= 0 or loop.time() < self._strict_until:
            return False
        if len(self._waiting) >= self.max_waiting:
            self._note_refusal(loop.time())
            return False
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(waiter)
        expiry = loop.call_later(self.queue_wait, self._expire, waiter)
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
            self._note_refusal(asyncio.get_running_loop().time())

    def _note_refusal(self, now: float) -> None:
        """A wait ended in a refusal, or found the queue full: enough of them within
        ``strict_seconds`` make the process strict for ``strict_seconds``."""
        recent = self._recent_refusals
        recent.append(now)
        while recent and recent[0] < now - self.strict_seconds:
            recent.popleft()
        if len(recent) >= self.max_waiting:
            self._strict_until = now + self.strict_seconds
            recent.clear()

    def _release(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
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
