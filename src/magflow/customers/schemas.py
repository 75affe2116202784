"""Customers as the API shows them: the stored counters plus what the formulas say
(``customers.analytics``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from magflow.common.schemas import Money, Page, UtcDateTime
from magflow.customers.analytics import Channel, RiskLevel, Tier
from magflow.orders.schemas import OrderOut


class CustomerOut(BaseModel):
    id: int
    customer_key: str = Field(description="platform:id:<eMAG id>, else :email:<hash>, :phone:")
    platform: str
    emag_customer_id: int | None
    name: str | None
    email_hash: str | None = Field(description="eMAG sends a hash, never the address")
    phone: str | None
    currency: str | None
    orders_count: int = Field(description="Orders placed, whatever became of them")
    kept_orders: int = Field(description="Orders neither cancelled nor returned")
    cancelled_count: int
    returned_count: int
    cod_count: int = Field(description="Orders paid cash on delivery")
    main_orders: int
    fbe_orders: int
    total_spent: Money = Field(description="Spend of the kept orders, in `currency`")
    average_order_value: Money | None = Field(description="total_spent / kept_orders")
    first_order_at: UtcDateTime | None
    last_order_at: UtcDateTime | None
    tier: Tier
    loyalty_score: int = Field(ge=0, le=100, description="RFM score, 0-100")
    loyalty_band: str
    risk_level: RiskLevel
    risk_score: float
    cancellation_rate: float
    return_rate: float
    cod_share: float
    preferred_channel: Channel
    is_repeat: bool


class CustomerSummary(BaseModel):
    """Over every customer (of the ``account`` when given), not only the page."""

    generated_at: UtcDateTime = Field(description="When computed (the summary is cached briefly)")
    total_customers: int
    total_orders: int
    cancelled_orders: int
    returned_orders: int
    spend_by_currency: dict[str, Money]
    active_days: int
    active_customers: int = Field(description="Last order within `active_days` days")
    new_this_month: int = Field(description="First order since `month_start` (UTC)")
    month_start: UtcDateTime
    repeat_customers: int
    repeat_customer_rate: float = Field(ge=0, le=1)
    tier_distribution: dict[str, int]
    loyalty_distribution: dict[str, int]
    channel_distribution: dict[str, int] = Field(description="main, fbe, mixed (and none)")
    risk_distribution: dict[str, int]


class CustomersPage(Page[CustomerOut]):
    summary: CustomerSummary | None


class CustomerAccountOut(BaseModel):
    account_id: int
    orders_count: int
    total_spent: Money


class CustomerDetail(BaseModel):
    customer: CustomerOut
    accounts: list[CustomerAccountOut]
    orders: Page[OrderOut] = Field(description="The customer's orders, newest first")
