"""What the API needs from a job backend (in-process runner or procrastinate)."""

from __future__ import annotations

from typing import Protocol


class JobRunner(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def enqueue(self, run_id: int) -> None:
        """Have ``run_id`` executed soon (by this process or a worker)."""
