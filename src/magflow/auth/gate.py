"""Password verification off the event loop, with load shedding.

Argon2 costs tens of milliseconds of CPU per verification by design. Run on the event loop (as
it was), 150 parallel logins pushed every other request of the process from 57 ms to 30 s, and
each login held a database session meanwhile (SQLite answered 500s when the pool ran dry).

Now a verification runs in a small thread pool of its own (argon2-cffi releases the GIL while
hashing), with no database session held, and at most ``max_pending`` logins per process are
verifying or waiting for a thread: the next one is refused at once (:class:`LoginBusyError`,
answered 429 with ``Retry-After``) instead of queueing without bound, since a queued login only
makes every later one slower. On Linux the pool's threads run at a lower CPU priority (nice +10,
inherited by argon2's own lane threads): under a login flood logins get slower, not the requests
of users already logged in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from magflow.auth.passwords import verify_password

#: Niceness added to the verification threads (Linux applies it per thread).
VERIFY_NICENESS = 10


def _lower_priority() -> None:
    if hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), VERIFY_NICENESS)


class LoginBusyError(Exception):
    """Too many logins are being verified in this process; retry after ``retry_after`` s."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(f"too many logins at once; try again in {retry_after} s")
        self.retry_after = retry_after


class VerificationGate:
    def __init__(self, threads: int, max_pending: int) -> None:
        self.max_pending = max(threads, max_pending)
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self.pending = 0
        #: Verifications actually run (a drill counts them).
        self.verifications = 0

    def enter(self) -> None:
        """Take a slot or raise :class:`LoginBusyError`; pair with :meth:`leave`."""
        if self.pending >= self.max_pending:
            raise LoginBusyError()
        self.pending += 1

    def leave(self) -> None:
        self.pending -= 1

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.verifications += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, verify_password, password_hash, password)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class LoginShedMiddleware:
    """Refuses a login with 429 before anything else runs when the gate is full.

    The login route refuses it as well, but only after the body has been read, the form parsed
    and the dependencies resolved: under a flood those refusals are most of the server's work,
    and every other request waits behind them. Here a refusal costs a comparison. ``state`` is
    the app's state, whose ``ctx`` (set at start-up) holds the gate."""

    def __init__(self, app: ASGIApp, *, path: str, state: Any) -> None:
        self.app = app
        self.path = path
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == self.path:
            ctx = getattr(self.state, "ctx", None)
            gate: VerificationGate | None = getattr(ctx, "login_gate", None)
            if gate is not None and gate.pending >= gate.max_pending:
                busy = LoginBusyError()
                response = JSONResponse(
                    {"detail": str(busy)},
                    status_code=429,
                    headers={"Retry-After": str(busy.retry_after)},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
