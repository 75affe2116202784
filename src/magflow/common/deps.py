"""FastAPI dependencies shared by every domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.context import AppContext


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def context_dependency(request: Request) -> AppContext:
    """:func:`get_context` as a dependency. ``async`` on purpose: FastAPI runs a plain ``def``
    dependency in a worker thread, a thread hop on every request for one attribute read."""
    return get_context(request)


async def get_session(
    ctx: Annotated[AppContext, Depends(context_dependency)],
) -> AsyncIterator[AsyncSession]:
    """A session per request. Routes commit explicitly; anything not committed is rolled back."""
    async with ctx.db.session() as session:
        yield session


Context = Annotated[AppContext, Depends(context_dependency)]
Session = Annotated[AsyncSession, Depends(get_session)]
