from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from magflow.accounts import service as accounts_service
from magflow.audit import repository
from magflow.audit.schemas import AuditOut
from magflow.auth.dependencies import Admin
from magflow.common.deps import Session
from magflow.common.schemas import IdQuery, Page, Skip

UNPROCESSABLE = 422  # Starlette renamed the constant; the code is what matters

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=Page[AuditOut])
async def list_audit(
    session: Session,
    _admin: Admin,
    account: str | None = None,
    user_id: IdQuery = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    emag_route: Annotated[str | None, Query(max_length=128)] = None,
    success: bool | None = None,
    target: Annotated[str | None, Query(max_length=128)] = None,
    bulk_operation_id: IdQuery = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Every write sent to eMAG, newest first (admins only)."""
    for bound in (date_from, date_to):
        if bound is not None and bound.tzinfo is None:
            raise HTTPException(
                UNPROCESSABLE,
                detail="date_from/date_to need a timezone, e.g. 2026-01-31T00:00:00Z",
            )
    account_id = None
    if account is not None:
        try:
            account_id = (await accounts_service.get_account(session, account)).id
        except accounts_service.AccountNotFoundError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    total, rows = await repository.list_entries(
        session,
        repository.AuditFilter(
            account_id=account_id,
            user_id=user_id,
            action=action,
            emag_route=emag_route,
            success=success,
            target=target,
            bulk_operation_id=bulk_operation_id,
            date_from=date_from,
            date_to=date_to,
        ),
        offset=skip,
        limit=limit,
    )
    return Page[AuditOut](
        total=total, skip=skip, limit=limit, items=[AuditOut.model_validate(r) for r in rows]
    )
