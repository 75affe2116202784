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
