from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from magflow.accounts.models import AccountType
from magflow.common.schemas import DB_INT_MAX, UtcDateTime


class PlatformCode(StrEnum):
    """eMAG RO, BG, HU and FashionDays RO, BG (``magflow.emag.platforms``)."""

    ro = "ro"
    bg = "bg"
    hu = "hu"
    fd_ro = "fd_ro"
    fd_bg = "fd_bg"


class AccountCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    platform: PlatformCode
    account_type: AccountType
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)
    base_url: HttpUrl | None = None
    # -- warehouse (issue 13, point 9) --
    warehouse_id: int = Field(
        default=1,
        ge=1,
        le=DB_INT_MAX,
        description="eMAG warehouse that stock is written to (light offer API); 1 by default",
    )


class AccountOut(BaseModel):
    """An account as shown to users: the password is never part of it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    platform: PlatformCode
    account_type: AccountType
    username: str
    base_url: str | None
    is_active: bool
    created_at: UtcDateTime
    # -- warehouse (issue 13, point 9) --
    warehouse_id: int


class WarehouseUpdate(BaseModel):
    """``PUT /api/v1/accounts/{name}/warehouse``: the warehouse stock is written to."""

    warehouse_id: int = Field(ge=1, le=DB_INT_MAX)
