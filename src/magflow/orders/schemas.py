from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int
    emag_id: int
    order_type: int
    status: int
    payment_mode_id: int | None
    payment_mode: str | None
    delivery_mode: str | None
    order_date: datetime | None
    emag_modified_at: datetime | None
    currency: str | None
    shipping_tax: Decimal | None
    total_without_vat: Decimal | None
    total_with_vat: Decimal | None
    customer_key: str | None
    customer_name: str | None
    awb_number: str | None
    acknowledged_at: datetime | None


class OrderDetailOut(OrderOut):
    customer: dict[str, Any] | None
    products: list[dict[str, Any]] | None
    vouchers: list[dict[str, Any]] | None
    details: dict[str, Any] | None
    attachments: list[dict[str, Any]] | None
    reason_cancellation: dict[str, Any] | None
    status_history: list[dict[str, Any]] | None
