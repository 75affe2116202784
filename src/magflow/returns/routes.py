from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from magflow.accounts import service as accounts_service
from magflow.auth.dependencies import CurrentUser, Operator
from magflow.common.deps import AccountByName, AccountIds, Context, Session
from magflow.common.schemas import BIGINT_MAX, BIGINT_MIN, Page, Skip
from magflow.returns import repository, service
from magflow.returns.schemas import ReturnOut, ReturnsSyncOut

router = APIRouter(prefix="/api/v1/emag/returns", tags=["returns"])


@router.post("/sync", response_model=ReturnsSyncOut)
async def sync_returns(
    ctx: Context,
    session: Session,
    _user: Operator,
    account: AccountByName,
    request_status: Annotated[int | None, Query(ge=1, le=7)] = None,
) -> Any:
    """Read the account's returns (``rma/read``) into the returns table."""
    filters = {"request_status": request_status} if request_status is not None else {}
    async with ctx.emag_client(accounts_service.credentials(ctx.cipher, account)) as client:
        result = await service.sync_returns(session, client, account, filters)
    await session.commit()
    return ReturnsSyncOut(account_id=result.account_id, read=result.read, pages=result.pages)


@router.get("", response_model=Page[ReturnOut])
async def list_returns(
    session: Session,
    _user: CurrentUser,
    account_ids: AccountIds,
    request_status: Annotated[list[Annotated[int, Field(ge=1, le=7)]] | None, Query()] = None,
    order_id: Annotated[
        int | None, Query(ge=BIGINT_MIN, le=BIGINT_MAX, description="eMAG order id")
    ] = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
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
