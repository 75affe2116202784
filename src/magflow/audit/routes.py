from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from magflow.accounts import service as accounts_service
from magflow.audit import repository
from magflow.audit.schemas import AuditOut
from magflow.auth.dependencies import Admin
from magflow.common.dates import UserDateTime, UserDateTimeEnd, in_zone, is_local
from magflow.common.deps import OptionalAccount, Session
from magflow.common.schemas import IdQuery, Page, Skip

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
    date_from: UserDateTime | None = None,
    date_to: Annotated[
        UserDateTimeEnd | None, Query(description="Exclusive; a plain date includes that day.")
    ] = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Every write sent to eMAG, newest first (admins only)."""
    account_id = account.id if account is not None else None
    if any(b is not None and is_local(b) for b in (date_from, date_to)):
        # Without a zone: the accounts' platform time (magflow.common.dates); over accounts of
        # several zones an AmbiguousZoneError, a 422 (magflow.common.errors).
        zone = await accounts_service.local_zone(
            session, [account_id] if account_id is not None else None
        )
        date_from = in_zone(date_from, zone) if date_from is not None else None
        date_to = in_zone(date_to, zone) if date_to is not None else None
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
