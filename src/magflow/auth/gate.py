"""Password verification off the event loop, with load shedding.

Argon2 costs tens of milliseconds of CPU per verification by design. Run on the event loop (as
it was), 150 parallel logins pushed every other request of the process from 57 ms to 30 s, and
each login held a database session meanwhile (SQLite answered 500s when the pool ran dry).

Now a verification runs in a small thread pool (argon2-cffi releases the GIL while hashing), with
no database session held, and at most ``max_pending`` logins per process are verifying or waiting
for a thread: the next one is refused at once (:class:`LoginBusyError`, answered 429 with
``Retry-After``) instead of queueing without bound, since a queued login only makes every later
one slower.
"""

from __future__ import annotations

import anyio
import anyio.to_thread

from magflow.auth.passwords import verify_password


class LoginBusyError(Exception):
    """Too many logins are being verified in this process; retry after ``retry_after`` s."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(f"too many logins at once; try again in {retry_after} s")
        self.retry_after = retry_after


class VerificationGate:
    def __init__(self, threads: int, max_pending: int) -> None:
        self.max_pending = max(threads, max_pending)
        self._limiter: anyio.CapacityLimiter | None = None
        self._threads = threads
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
        if self._limiter is None:  # created lazily: it binds to the running event loop
            self._limiter = anyio.CapacityLimiter(self._threads)
        self.verifications += 1
        return await anyio.to_thread.run_sync(
            verify_password, password_hash, password, limiter=self._limiter
        )
