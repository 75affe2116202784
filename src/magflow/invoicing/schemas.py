"""Invoicing API bodies and answers. Credentials go in, never out (``has_credentials``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from magflow.common.schemas import Money, StorableText, UtcDateTime
from magflow.invoicing import cui
from magflow.invoicing.models import ProviderName, Trigger

Short = Annotated[StorableText, Field(max_length=255)]
Url = Annotated[StorableText, Field(max_length=512, pattern=r"^https?://")]


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: ProviderName = ProviderName.builtin
    trigger: Trigger = Trigger.off
    series: Annotated[StorableText, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")]
    credit_series: (
        Annotated[StorableText, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")]
        | None
    ) = None
    seller_name: Annotated[StorableText, Field(min_length=1, max_length=255)]
    seller_cui: Annotated[StorableText, Field(min_length=2, max_length=16)]
    seller_reg_no: Annotated[StorableText, Field(max_length=64)] | None = None
    seller_address: Short | None = None
    seller_city: Annotated[StorableText, Field(max_length=128)] | None = None
    seller_county: Annotated[StorableText, Field(max_length=128)] | None = None
    seller_country: Annotated[StorableText, Field(pattern=r"^[A-Z]{2}$")] = "RO"
    seller_iban: Annotated[StorableText, Field(max_length=64)] | None = None
    vat_payer: bool = True
    public_base_url: Url | None = None
    provider_base_url: Url | None = None
    #: SmartBill ``{"username", "token"}``; Oblio ``{"email", "secret"}``. Omitted: keep the
    #: stored ones.
    credentials: dict[str, Annotated[StorableText, Field(max_length=512)]] | None = None

    @field_validator("seller_cui")
    @classmethod
    def _valid_cui(cls, value: str) -> str:
        if not cui.is_valid(value):
            raise ValueError("not a valid Romanian CUI (its check digit is wrong)")
        return value.replace(" ", "").upper()


class SettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    account_id: int
    provider: str
    trigger: str
    series: str
    credit_series: str | None
    seller_name: str
    seller_cui: str
    seller_reg_no: str | None
    seller_address: str | None
    seller_city: str | None
    seller_county: str | None
    seller_country: str
    seller_iban: str | None
    vat_payer: bool
    public_base_url: str | None
    provider_base_url: str | None
    has_credentials: bool = False


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int
    order_id: int
    kind: str
    provider: str
    state: str
    failed_step: str | None
    message: str | None
    reference: str
    series: str | None
    number: str | None
    currency: str | None
    total: Money | None
    attempts: int
    issued_at: UtcDateTime | None
    attached_at: UtcDateTime | None
    created_at: UtcDateTime
    has_xml: bool = False


def invoice_out(row: Any) -> InvoiceOut:
    out = InvoiceOut.model_validate(row)
    out.has_xml = row.xml is not None
    return out


class InvoiceRow(InvoiceOut):
    emag_order_id: int
    order_status: int
    customer_name: str | None


class QueueItem(BaseModel):
    order_id: int
    emag_order_id: int
    account_id: int
    order_date: UtcDateTime | None
    customer_name: str | None
    total_with_vat: Money | None
    currency: str | None
    invoice: InvoiceOut | None


class StornoLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: Annotated[int, Field(ge=0, le=1000)]
    quantity: Annotated[Decimal, Field(gt=0, le=100000)]


class CreditNoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A partial storno: which invoice lines (index in the invoice) and how many units; omitted:
    #: what the order no longer holds (all of it when cancelled or returned).
    lines: Annotated[list[StornoLine], Field(max_length=200)] | None = None


class TickOut(BaseModel):
    moved: int
    at: datetime
