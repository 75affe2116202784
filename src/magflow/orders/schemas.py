from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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


class CurrencyDay(BaseModel):
    """One currency's share of a day: its orders (every status) and its revenue (cancelled and
    returned orders left out, as customer spend counts it)."""

    currency: str = Field(description='ISO currency of the orders; "?" when eMAG sent none')
    orders: int
    revenue: Decimal


class DailyOrdersDay(BaseModel):
    day: date = Field(description="A calendar day in the platform's time zone (see `timezone`)")
    orders: int = Field(description="Orders placed that day, every status and currency")
    currencies: list[CurrencyDay] = Field(description="Per currency, by currency code")


class DailyOrdersOut(BaseModel):
    """Orders and revenue per day over the last ``days`` days, today included, without gaps."""

    days: int
    timezone: str | None = Field(
        description=(
            "The IANA zone the days are counted in: the selected accounts' platform zone. "
            "null when they are on platforms in different zones: each order is then dated in "
            "its own account's zone and the last day is the latest platform's today."
        )
    )
    currencies: list[str] = Field(description="Every currency present, by revenue, largest first")
    items: list[DailyOrdersDay] = Field(description="One entry per day, oldest first")
