"""What the API needs from a job backend (in-process runner or procrastinate)."""

from __future__ import annotations

import os
import socket
from typing import Protocol

# Who holds a claim on a sync run or a bulk operation: host and process id.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


class JobRunner(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def enqueue(self, run_id: int) -> None:
        """Have sync run ``run_id`` executed soon (by this process or a worker)."""

    async def enqueue_bulk(self, operation_id: int) -> None:
        """Have bulk operation ``operation_id`` executed (or resumed) soon, likewise."""

    # -- intake (magflow.intake) -----------------------------------------------------------------
    async def enqueue_intake(self, account_id: int, poll: bool = False) -> None:
        """Have the account's intake job run soon (its pending orders; ``poll``: the catch-up poll
        first). At most one waits per (account, poll)."""
