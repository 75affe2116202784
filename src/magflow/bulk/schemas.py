from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from magflow.catalog.schemas import OfferOut
from magflow.common.schemas import UtcDateTime

Scalar = int | float | str | None


class BulkOfferItem(BaseModel):
    """One offer change. Values are checked per item (a bad value makes that item ``invalid``,
    not the whole request), so they are accepted here as given."""

    model_config = ConfigDict(extra="forbid")

    offer_id: Scalar = Field(
        default=None,
        validation_alias=AliasChoices("offer_id", "id", "emag_id"),
        description="the seller's offer id on eMAG (emag_products_v2.emag_id)",
    )
    account: str | int | None = Field(default=None, description="account name or id")
    sale_price: Scalar = None
    min_sale_price: Scalar = None
    max_sale_price: Scalar = None
    recommended_price: Scalar = None
    stock: Scalar = None
    handling_time: Scalar = None
    status: Scalar = None
    vat_id: Scalar = None


class BulkOffersRequest(BaseModel):
    account: str | None = Field(default=None, description="default account for items without one")
    items: list[BulkOfferItem] = Field(min_length=1, max_length=10_000)


class OperationOut(BaseModel):
    id: int
    kind: str
    status: str
    source: str
    idempotency_key: str | None
    created_by: str | None
    total_items: int
    invalid_items: int
    pending_items: int
    succeeded_items: int
    failed_items: int
    processed_items: int
    requests_sent: int
    attempts: int
    error: str | None
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None


class OperationItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    account_id: int | None
    account_ref: str | None
    offer_emag_id: int | None
    offer_id: int | None
    changes: dict[str, Any]
    payload: dict[str, Any] | None
    status: str
    messages: list[str] | None
    attempts: int
    updated_at: UtcDateTime | None


class StockChange(BaseModel):
    stock: int = Field(ge=0, le=65535, description="units in stock; the account buffer is applied")


class StockOut(BaseModel):
    offer: OfferOut
    requested: int
    published: int


class StockBufferChange(BaseModel):
    account: str
    stock_buffer: int = Field(ge=0, le=65535)


class StockBufferOut(BaseModel):
    account_id: int
    account: str
    stock_buffer: int
