"""Helpers of the intake tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from magflow.context import AppContext
from magflow.intake.models import OrderIntake


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy (never a timing assertion: the timeout
    only ends a test that would otherwise hang)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {result!r}")
        await asyncio.sleep(0.05)


async def intake_rows(ctx: AppContext, account_id: int) -> dict[int, OrderIntake]:
    async with ctx.db.session() as session:
        rows = (
            await session.execute(select(OrderIntake).where(OrderIntake.account_id == account_id))
        ).scalars()
        return {row.emag_order_id: row for row in rows}
