"""Customer analytics: ``GET /api/v1/admin/emag-customers`` and ``.../{customer_id}``.

Read-only, so any logged-in user may call them although they live under ``/admin`` (the seed's
contract path); the CSV/XLSX export of the same data (``.../export``) is for admins only.

Served from ``emag_customers`` (the counters the sync engine keeps by deltas), never by scanning
``emag_orders``: a page is ``ORDER BY <column>, id LIMIT`` on an indexed column (spend, last or
first order) and the summary is one aggregate pass over ``emag_customers``, cached for
:data:`SUMMARY_CACHE_TTL_SECONDS` in the app's cache (cleared when a sync run ends).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.auth.dependencies import CurrentUser
from magflow.auth.models import User
from magflow.cache import Cache
from magflow.catalog.routes import account_ids
from magflow.common.deps import Context, Session
from magflow.common.privacy import mask_customer_key, mask_name, mask_phone, sees_personal_data
from magflow.common.schemas import IdPath, Page, Skip
from magflow.customers import analytics, repository
from magflow.customers.analytics import DEFAULT_CONFIG, AnalyticsConfig, RiskLevel, Tier
from magflow.customers.models import EmagCustomer
from magflow.customers.schemas import (
    CustomerAccountOut,
    CustomerDetail,
    CustomerOut,
    CustomersPage,
    CustomerSummary,
)
from magflow.orders import repository as orders_repository
from magflow.orders.schemas import OrderOut

router = APIRouter(prefix="/api/v1/admin/emag-customers", tags=["customers"])

#: How long a computed summary is served from the cache.
SUMMARY_CACHE_TTL_SECONDS = 60.0
#: The app-state attribute holding an :class:`AnalyticsConfig` that overrides the defaults.
CONFIG_STATE_ATTRIBUTE = "customer_analytics"

SortKey = Literal[
    "spend", "orders", "last_order", "first_order", "loyalty", "risk", "aov", "name", "id"
]

_FORMULAS = inspect.cleandoc(analytics.__doc__ or "").split("Defaults are", 1)[0]


def analytics_config(request: Request) -> AnalyticsConfig:
    """The app's formulas: ``app.state.customer_analytics`` when set, else the defaults."""
    config = getattr(request.app.state, CONFIG_STATE_ATTRIBUTE, None)
    return config if isinstance(config, AnalyticsConfig) else DEFAULT_CONFIG


def customer_out(
    customer: EmagCustomer, now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG
) -> CustomerOut:
    facts = analytics.insight(customer, now, config)
    return CustomerOut(
        id=customer.id,
        customer_key=customer.customer_key,
        platform=customer.platform,
        emag_customer_id=customer.emag_customer_id,
        name=customer.name,
        email_hash=customer.email_hash,
        phone=customer.phone,
        currency=customer.currency,
        orders_count=customer.orders_count,
        kept_orders=facts.kept_orders,
        cancelled_count=customer.cancelled_count,
        returned_count=customer.returned_count,
        cod_count=customer.cod_count,
        main_orders=customer.main_orders,
        fbe_orders=customer.fbe_orders,
        total_spent=customer.total_spent,
        average_order_value=facts.average_order_value,
        first_order_at=customer.first_order_at,
        last_order_at=customer.last_order_at,
        tier=facts.tier,
        loyalty_score=facts.loyalty_score,
        loyalty_band=facts.loyalty_band,
        risk_level=facts.risk_level,
        risk_score=facts.risk_score,
        cancellation_rate=facts.cancellation_rate,
        return_rate=facts.return_rate,
        cod_share=facts.cod_share,
        preferred_channel=facts.preferred_channel,
        is_repeat=facts.is_repeat,
    )


def _private(user: User, out: CustomerOut) -> CustomerOut:
    """Viewers see initials and the phone's last digits (see common/privacy.py)."""
    if not sees_personal_data(user):
        out.name = mask_name(out.name)
        out.phone = mask_phone(out.phone)
        out.customer_key = mask_customer_key(out.customer_key) or out.customer_key
    return out


def _private_order(user: User, out: OrderOut) -> OrderOut:
    if not sees_personal_data(user):
        out.customer_name = mask_name(out.customer_name)
        out.customer_key = mask_customer_key(out.customer_key)
    return out


async def customer_summary(
    session: AsyncSession,
    now: datetime,
    config: AnalyticsConfig = DEFAULT_CONFIG,
    accounts: Sequence[int] | None = None,
    cache: Cache | None = None,
) -> CustomerSummary:
    """The summary over all customers (of ``accounts`` when given); from ``cache`` when there.

    The cache key holds the config's fingerprint and the accounts, so that different views never
    share an entry; the lead's sync wiring clears the cache when a run ends."""

    async def compute() -> dict[str, Any]:
        segments = await repository.customer_segments(session, now, config, accounts)
        summary = CustomerSummary.model_validate(analytics.summarize(segments, now, config))
        return summary.model_dump(mode="json")

    if cache is None:
        return CustomerSummary.model_validate(await compute())
    scope = ",".join(str(a) for a in sorted(accounts)) if accounts is not None else "all"
    key = f"customers:summary:{config.fingerprint()}:{scope}"
    return CustomerSummary.model_validate(
        await cache.get_or_compute(key, SUMMARY_CACHE_TTL_SECONDS, compute)
    )


@router.get(
    "",
    response_model=CustomersPage,
    summary="Customers with tier, loyalty, risk and channel, plus a summary of all customers",
    description=(
        "One row per customer from `emag_customers` (kept by the sync engine), never a scan of "
        "orders. Any logged-in user (read-only, although under /admin).\n\n"
        "`search` matches the name (substring), the customer key or email hash (prefix), the "
        "phone (3+ digits) or the eMAG customer id. `sort=spend|last_order|first_order` follow an "
        "index; `loyalty|risk|aov` are computed in SQL over all matching customers. `summary` "
        f"covers every customer (of `account`), cached {SUMMARY_CACHE_TTL_SECONDS:g} s and "
        "recomputed after each sync run; `with_summary=false` leaves it out. `total` counts the "
        "matching customers; when nothing but `account` filters the listing it is the "
        "summary's `total_customers` (same snapshot, `summary.generated_at`), so customers "
        "added since may be on the page but not yet in `total`.\n\n" + _FORMULAS
    ),
)
async def list_customers(
    request: Request,
    ctx: Context,
    session: Session,
    user: CurrentUser,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    search: Annotated[str | None, Query(max_length=200)] = None,
    sort: SortKey = "spend",
    order: Literal["asc", "desc"] = "desc",
    tier: Annotated[list[Tier] | None, Query()] = None,
    risk: Annotated[list[RiskLevel] | None, Query()] = None,
    channel: Annotated[list[Literal["main", "fbe", "mixed"]] | None, Query()] = None,
    loyalty_min: Annotated[int | None, Query(ge=0, le=100)] = None,
    loyalty_max: Annotated[int | None, Query(ge=0, le=100)] = None,
    account: Annotated[str | None, Query(description="Account name or id")] = None,
    with_summary: bool = True,
) -> Any:
    config = analytics_config(request)
    now = datetime.now(UTC)
    accounts = await account_ids(session, account)
    filters = repository.CustomerFilter(
        now=now,
        config=config,
        account_ids=accounts,
        search=search.strip() if search and search.strip() else None,
        tiers=list(tier or ()),
        risks=list(risk or ()),
        channels=list(channel or ()),
        loyalty_min=loyalty_min,
        loyalty_max=loyalty_max,
    )
    rows = await repository.page_customers(
        session, filters, sort=sort, descending=order == "desc", offset=skip, limit=limit
    )
    summary = (
        await customer_summary(session, now, config, accounts, ctx.cache) if with_summary else None
    )
    # Unfiltered, the count is the summary's (one COUNT(*) over every customer saved per
    # request, at the price of the summary's snapshot: see the route's description).
    if summary is not None and not repository.narrows(filters):
        total = summary.total_customers
    else:
        total = await repository.count_customers(session, filters)
    return CustomersPage(
        total=total,
        skip=skip,
        limit=limit,
        items=[_private(user, customer_out(row, now, config)) for row in rows],
        summary=summary,
    )


@router.get(
    "/{customer_id:int}",
    response_model=CustomerDetail,
    summary="One customer, with their accounts and their orders (newest first, paginated)",
    description=(
        "The customer's row as in the listing, their per-account counters and a page of their "
        "orders from `emag_orders` (by `customer_key`, newest first; `skip`/`limit` page the "
        "orders). Any logged-in user.\n\n" + _FORMULAS
    ),
    responses={404: {"description": "No such customer"}},
)
async def get_customer(
    request: Request,
    session: Session,
    user: CurrentUser,
    customer_id: IdPath,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    customer = await repository.get_customer(session, customer_id)
    if customer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no customer {customer_id}")
    now = datetime.now(UTC)
    links = await repository.customer_accounts(session, customer_id)
    total, orders = await orders_repository.list_orders(
        session,
        orders_repository.OrderFilter(customer_key=customer.customer_key),
        sort="order_date",
        descending=True,
        offset=skip,
        limit=limit,
    )
    return CustomerDetail(
        customer=_private(user, customer_out(customer, now, analytics_config(request))),
        accounts=[
            CustomerAccountOut(
                account_id=link.account_id,
                orders_count=link.orders_count,
                total_spent=link.total_spent,
            )
            for link in links
        ],
        orders=Page[OrderOut](
            total=total,
            skip=skip,
            limit=limit,
            items=[_private_order(user, OrderOut.model_validate(order)) for order in orders],
        ),
    )
