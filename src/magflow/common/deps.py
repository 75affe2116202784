"""FastAPI dependencies shared by every domain."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.context import AppContext


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def context_dependency(request: Request) -> AppContext:
    """:func:`get_context` as a dependency. ``async`` on purpose: FastAPI runs a plain ``def``
    dependency in a worker thread, a thread hop on every request for one attribute read."""
    return get_context(request)


_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])
_READ_ONLY = "__magflow_read_only__"


def read_only(endpoint: _Endpoint) -> _Endpoint:
    """Marks a route that only reads: its session (and the user lookup, which shares it) runs
    without a transaction (:meth:`magflow.db.engine.Database.read_session`). For the hot GET
    listings only; not for a route that writes, streams through a server-side cursor (those
    need a transaction on PostgreSQL) or needs its statements to share one snapshot."""
    setattr(endpoint, _READ_ONLY, True)
    return endpoint


def is_read_only(endpoint: object) -> bool:
    return bool(getattr(endpoint, _READ_ONLY, False))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request. Routes commit explicitly; anything not committed is rolled back.
    A route marked :func:`read_only` gets a session without a transaction instead.

    The dependencies of every request read the app's context from the request, not through
    :data:`Context`: FastAPI solves a dependency's own dependencies again at each use, cached or
    not, about as much CPU as a short dependency itself costs (issue 18)."""
    ctx = get_context(request)
    if is_read_only(request.scope.get("endpoint")):
        async with ctx.db.read_session() as session:
            yield session
        return
    async with ctx.db.session() as session:
        yield session


Context = Annotated[AppContext, Depends(context_dependency)]
Session = Annotated[AsyncSession, Depends(get_session)]


# -- the account a request names ----------------------------------------------------------------
# Every route that takes an ``account`` (name or id) resolves it here; an unknown account raises
# AccountNotFoundError, which the app's handlers answer with 404 (magflow.common.errors).

AccountQuery = Annotated[str, Query(description="account name or id")]


async def required_account(session: Session, account: AccountQuery) -> EmagAccount:
    return await accounts_service.get_account(session, account)


async def optional_account(
    session: Session, account: AccountQuery | None = None
) -> EmagAccount | None:
    return None if account is None else await accounts_service.get_account(session, account)


async def account_filter(session: Session, account: AccountQuery | None = None) -> list[int] | None:
    """The ``account_ids`` filter of a listing: None (every account) when no account is named.
    (:func:`optional_account`'s lookup, without a dependency on it: one dependency less to solve
    on every listing request.)"""
    if account is None:
        return None
    return [(await accounts_service.get_account(session, account)).id]


#: The account named by the ``account`` query parameter (required).
AccountByName = Annotated[EmagAccount, Depends(required_account)]
#: The account named by the ``account`` query parameter, or None when absent.
OptionalAccount = Annotated[EmagAccount | None, Depends(optional_account)]
#: ``[id]`` of the account named by the ``account`` query parameter, or None when absent.
AccountIds = Annotated[list[int] | None, Depends(account_filter)]
