"""FastAPI dependencies shared by every domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

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


async def get_session(
    ctx: Annotated[AppContext, Depends(context_dependency)],
) -> AsyncIterator[AsyncSession]:
    """A session per request. Routes commit explicitly; anything not committed is rolled back."""
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


async def account_filter(
    account: Annotated[EmagAccount | None, Depends(optional_account)],
) -> list[int] | None:
    """The ``account_ids`` filter of a listing: None (every account) when no account is named."""
    return None if account is None else [account.id]


#: The account named by the ``account`` query parameter (required).
AccountByName = Annotated[EmagAccount, Depends(required_account)]
#: The account named by the ``account`` query parameter, or None when absent.
OptionalAccount = Annotated[EmagAccount | None, Depends(optional_account)]
#: ``[id]`` of the account named by the ``account`` query parameter, or None when absent.
AccountIds = Annotated[list[int] | None, Depends(account_filter)]
