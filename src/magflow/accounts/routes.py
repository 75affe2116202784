from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, status

from magflow.accounts import service
from magflow.accounts.models import EmagAccount
from magflow.accounts.schemas import AccountCreate, AccountOut, AccountUpdate, WarehouseUpdate
from magflow.auth.dependencies import Admin, CurrentUser, Operator
from magflow.common.deps import Context, Session

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])


@router.get("", response_model=list[AccountOut])
async def list_accounts(session: Session, _user: CurrentUser) -> Sequence[EmagAccount]:
    return await service.list_accounts(session)


@router.post("", response_model=AccountOut, status_code=status.HTTP_201_CREATED)
async def add_account(
    ctx: Context, session: Session, _admin: Admin, body: AccountCreate
) -> EmagAccount:
    try:
        account = await service.add_account(session, ctx.cipher, body)
    except service.AccountExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    await session.commit()
    return account


# -- warehouse (issue 13, point 9) -----------------------------------------------------------------


@router.put("/{name}/warehouse", response_model=AccountOut)
async def set_warehouse(
    session: Session, _admin: Admin, name: str, body: WarehouseUpdate
) -> EmagAccount:
    """The eMAG warehouse that this account's stock is written to (docs/emag-protocol.md,
    "Offers"); 1 by default."""
    account = await service.set_warehouse(session, name, body.warehouse_id)
    await session.commit()
    return account


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_account(session: Session, _admin: Admin, name: str) -> None:
    await service.remove_account(session, name)
    await session.commit()


@router.patch("/{name}", response_model=AccountOut)
async def update_account(
    session: Session, _admin: Admin, name: str, body: AccountUpdate
) -> EmagAccount:
    """Change an account's settings: ``auto_acknowledge`` (acknowledge new orders as soon as they
    are stored, magflow.intake), ``is_active``."""
    account = await service.update_account(session, name, body)
    await session.commit()
    await session.refresh(account)
    return account


# -- AWB sender defaults ---------------------------------------------------------------------------


@router.get("/{name}/addresses")
async def account_addresses(
    ctx: Context, session: Session, _user: Operator, name: str
) -> list[dict[str, Any]]:
    """The account's saved addresses on eMAG (``addresses/read``, docs/emag-protocol.md, "AWBs
    and couriers"), as eMAG sends them: an ``address_id`` can be the AWB sender default."""
    account = await service.get_account(session, name)
    async with ctx.emag_client(service.credentials(ctx.cipher, account)) as client:
        return await client.read_addresses()


# -- end AWB sender defaults -----------------------------------------------------------------------
