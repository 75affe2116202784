from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from magflow.audit import repository
from magflow.audit.schemas import AuditOut
from magflow.auth.dependencies import Admin
from magflow.common.deps import OptionalAccount, Session
from magflow.common.schemas import AwareDateTime, IdQuery, Page, Skip

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=Page[AuditOut])
async def list_audit(
    session: Session,
    _admin: Admin,
    account: OptionalAccount,
    user_id: IdQuery = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    emag_route: Annotated[str | None, Query(max_length=128)] = None,
    success: bool | None = None,
    target: Annotated[str | None, Query(max_length=128)] = None,
    bulk_operation_id: IdQuery = None,
    date_from: AwareDateTime | None = None,
    date_to: AwareDateTime | None = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Every write sent to eMAG, newest first (admins only)."""
    total, rows = await repository.list_entries(
        session,
        repository.AuditFilter(
            account_id=account.id if account is not None else None,
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
