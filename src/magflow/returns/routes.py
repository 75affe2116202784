from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field

from magflow.accounts import service as accounts_service
from magflow.auth.dependencies import CurrentUser, Operator
from magflow.common.deps import Context, Session
from magflow.common.schemas import BIGINT_MAX, BIGINT_MIN, Page, Skip
from magflow.emag.errors import EmagError
from magflow.orders.actions_routes import emag_http_error
from magflow.returns import repository, service
from magflow.returns.schemas import ReturnOut, ReturnsSyncOut

router = APIRouter(prefix="/api/v1/emag/returns", tags=["returns"])


async def _account(session: Session, account: str) -> Any:
    try:
        return await accounts_service.get_account(session, account)
    except accounts_service.AccountNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc


@router.post("/sync", response_model=ReturnsSyncOut)
async def sync_returns(
    ctx: Context,
    session: Session,
    _user: Operator,
    account: Annotated[str, Query(description="account name or id")],
    request_status: Annotated[int | None, Query(ge=1, le=7)] = None,
) -> Any:
    """Read the account's returns (``rma/read``) into the returns table."""
    acct = await _account(session, account)
    filters = {"request_status": request_status} if request_status is not None else {}
    try:
        async with ctx.emag_client(accounts_service.credentials(ctx.cipher, acct)) as client:
            result = await service.sync_returns(session, client, acct, filters)
    except EmagError as exc:
        raise emag_http_error(exc) from exc
    await session.commit()
    return ReturnsSyncOut(account_id=result.account_id, read=result.read, pages=result.pages)


@router.get("", response_model=Page[ReturnOut])
async def list_returns(
    session: Session,
    _user: CurrentUser,
    account: str | None = None,
    request_status: Annotated[list[Annotated[int, Field(ge=1, le=7)]] | None, Query()] = None,
    order_id: Annotated[
        int | None, Query(ge=BIGINT_MIN, le=BIGINT_MAX, description="eMAG order id")
    ] = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    account_ids = [(await _account(session, account)).id] if account is not None else None
    total, rows = await repository.list_returns(
        session,
        repository.ReturnFilter(
            account_ids=account_ids, request_status=request_status, order_emag_id=order_id
        ),
        offset=skip,
        limit=limit,
    )
    return Page[ReturnOut](
        total=total, skip=skip, limit=limit, items=[ReturnOut.model_validate(r) for r in rows]
    )
