from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from magflow.accounts.models import AccountType
from magflow.common.schemas import UtcDateTime


class PlatformCode(StrEnum):
    ro = "ro"
    bg = "bg"
    hu = "hu"


class AccountCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    platform: PlatformCode
    account_type: AccountType
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)
    base_url: HttpUrl | None = None


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
    # -- intake (magflow.intake) --
    auto_acknowledge: bool = False


class AccountUpdate(BaseModel):
    """``PATCH /api/v1/accounts/{name}``: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    # -- intake (magflow.intake) --
    auto_acknowledge: bool | None = None
    is_active: bool | None = None
