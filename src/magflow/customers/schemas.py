"""Customers as the API shows them: the stored counters plus what the formulas say
(``customers.analytics``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from magflow.common.schemas import Money, Page, UtcDateTime
from magflow.customers import analytics
from magflow.customers.analytics import DEFAULT_CONFIG, AnalyticsConfig, Channel, RiskLevel, Tier
from magflow.customers.models import EmagCustomer
from magflow.db.query import Record
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
    total_spent: Money = Field(
        description="Spend of the kept orders in `currency` (the first order's); orders in other "
        "currencies are never added in (see `orders_in_other_currencies`)"
    )
    orders_in_other_currencies: int = Field(
        default=0,
        description="Kept orders in another currency than `currency`, not in `total_spent`; "
        "the customer's detail gives their spend per currency",
    )
    average_order_value: Money | None = Field(
        description="total_spent / the kept orders in `currency`"
    )
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
    spend_by_currency: dict[str, Money] = Field(
        description="Spend of kept orders per order currency; currencies are never added up"
    )
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
    total_spent: Money = Field(description="Spend on this account in the customer's `currency`")
    spend_by_currency: dict[str, Money] = Field(
        default_factory=dict, description="Spend of kept orders on this account, per currency"
    )


class CustomerSpendOut(BaseModel):
    """Kept orders and their total on one account in one currency (issue 13, point 7)."""

    account_id: int
    currency: str = Field(description="The orders' currency (XXX: orders sent without one)")
    orders: int
    total_spent: Money


class CustomerDetail(BaseModel):
    customer: CustomerOut
    accounts: list[CustomerAccountOut]
    spend: list[CustomerSpendOut] = Field(
        default_factory=list, description="Spend per account and currency, never summed across"
    )
    orders: Page[OrderOut] = Field(description="The customer's orders, newest first")


def customer_fields(
    customer: EmagCustomer, now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG
) -> dict[str, Any]:
    """The fields of :class:`CustomerOut`: the stored counters of ``customer`` and what the
    formulas say of them at ``now`` (a listing validates a page of these at once; the formulas'
    answers are ``analytics.CustomerInsight``'s fields, in its order).

    ``customer``: a row of the listing (``db.query.Record``: its columns are the listing's, and
    are taken whole) or an ``EmagCustomer``. Columns that are not fields (``spent_orders``) are
    left for the validation to ignore."""
    if isinstance(customer, Record):
        fields = dict(vars(customer))
    else:
        fields = {name: getattr(customer, name) for name in STORED_FIELDS}
    answers = analytics.facts(customer, now, config)
    (
        fields["kept_orders"],
        fields["average_order_value"],
        fields["tier"],
        fields["loyalty_score"],
        fields["loyalty_band"],
        fields["risk_score"],
        fields["risk_level"],
        fields["preferred_channel"],
        fields["cancellation_rate"],
        fields["return_rate"],
        fields["cod_share"],
        fields["is_repeat"],
    ) = answers
    spent_orders = customer.spent_orders
    fields["orders_in_other_currencies"] = 0 if spent_orders is None else answers[0] - spent_orders
    return fields


#: The columns of ``emag_customers`` a customer's fields are made of (the listing reads these).
STORED_FIELDS = (
    "id",
    "customer_key",
    "platform",
    "emag_customer_id",
    "name",
    "email_hash",
    "phone",
    "currency",
    "orders_count",
    "total_spent",
    "spent_orders",
    "cancelled_count",
    "returned_count",
    "cod_count",
    "main_orders",
    "fbe_orders",
    "first_order_at",
    "last_order_at",
)


def customer_out(
    customer: EmagCustomer, now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG
) -> CustomerOut:
    """The stored counters of ``customer`` and what the formulas say of them at ``now``."""
    return CustomerOut.model_validate(customer_fields(customer, now, config))
