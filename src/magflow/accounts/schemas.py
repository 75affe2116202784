from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from magflow.accounts.models import AccountType
from magflow.common.schemas import DB_INT_MAX, UtcDateTime
from magflow.emag.phones import normalize_phone


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
    # -- AWB sender defaults ---------------------------------------------------------------------
    awb_sender: dict[str, Any] | None = Field(
        default=None, description="the sender of this account's AWBs when a request gives none"
    )
    # -- end AWB sender defaults -----------------------------------------------------------------
    # -- intake (magflow.intake) --
    auto_acknowledge: bool = False


# -- AWB sender defaults ---------------------------------------------------------------------------


class AwbSenderDefaults(BaseModel):
    """The sender of an account's AWBs (``awb/save`` ``sender``, docs/emag-protocol.md, "AWBs and
    couriers"): the name, contact person and phones, and either an eMAG ``address_id`` (from
    ``GET /api/v1/accounts/{name}/addresses``), which replaces the address fields, or a full
    address (``locality_id`` and ``street``). Whether eMAG still needs the name, contact and phone
    next to an ``address_id`` is uncertain (docs/emag-protocol.md, "Uncertainties"): they are
    required, so that an AWB never lacks them. Phones are stored as eMAG accepts them
    (:func:`magflow.emag.phones.normalize_phone`; the platform's own country code is only
    rewritten when the AWB is sent)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=3, max_length=255, description="company name")
    contact: str = Field(min_length=1, max_length=255, description="contact person")
    phone1: str = Field(min_length=1, max_length=32)
    phone2: str | None = Field(default=None, max_length=32)
    address_id: str | None = Field(
        default=None, min_length=1, max_length=21, description="eMAG saved address (pickup)"
    )
    locality_id: int | None = Field(default=None, ge=1, description="eMAG locality id")
    street: str | None = Field(default=None, min_length=3, max_length=255)
    zipcode: str | None = Field(default=None, max_length=16)

    @field_validator("phone1", "phone2")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else normalize_phone(value)

    @model_validator(mode="after")
    def _address(self) -> AwbSenderDefaults:
        if self.address_id is None and (self.locality_id is None or self.street is None):
            raise ValueError("give an eMAG address_id, or a locality_id and a street")
        return self


# -- end AWB sender defaults -----------------------------------------------------------------------


class AccountUpdate(BaseModel):
    """``PATCH /api/v1/accounts/{name}``: the settings given change, the others stay."""

    model_config = ConfigDict(extra="forbid")

    # -- AWB sender defaults -----------------------------------------------------------------------
    awb_sender: AwbSenderDefaults | None = Field(
        default=None, description="the AWB sender defaults; null removes them"
    )
    # -- end AWB sender defaults -------------------------------------------------------------------
    # -- intake (magflow.intake) --
    auto_acknowledge: bool | None = None
    is_active: bool | None = None


class WarehouseUpdate(BaseModel):
    """``PUT /api/v1/accounts/{name}/warehouse``: the warehouse stock is written to."""

    warehouse_id: int = Field(ge=1, le=DB_INT_MAX)
