"""Customer analytics: ``GET /api/v1/admin/emag-customers`` and ``.../{customer_id}``.

Read-only, so any logged-in user may call them although they live under ``/admin`` (the seed's
contract path); the CSV/XLSX export of the same data (``.../export``) is for admins only.

Served from ``emag_customers`` (the counters the sync engine keeps by deltas), never by scanning
``emag_orders``: a page is ``ORDER BY <column>, id LIMIT`` on an indexed column (spend, last or
first order) and the summary is one aggregate pass over ``emag_customers``, cached for
``SUMMARY_CACHE_TTL_SECONDS`` (magflow.customers.service) in the app's cache (cleared when a sync
run ends).
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status

from magflow.auth.dependencies import CurrentUser
from magflow.common.deps import Context, Session, read_only
from magflow.common.privacy import mask_customer_key, mask_name, mask_phone, sees_personal_data
from magflow.common.schemas import IdPath, Page, Skip, page_of
from magflow.customers import analytics, repository
from magflow.customers.filters import CustomerFilterQuery, analytics_config
from magflow.customers.models import NO_CURRENCY
from magflow.customers.schemas import (
    CustomerAccountOut,
    CustomerDetail,
    CustomerOut,
    CustomersPage,
    CustomerSpendOut,
    customer_fields,
)
from magflow.customers.service import SUMMARY_CACHE_TTL_SECONDS, customer_summary
from magflow.orders import repository as orders_repository
from magflow.orders.schemas import OrderOut, private_order

router = APIRouter(prefix="/api/v1/admin/emag-customers", tags=["customers"])


#: What a row of the customer's orders shows (OrderOut).
ORDER_COLUMNS = tuple(OrderOut.model_fields)

_FORMULAS = inspect.cleandoc(analytics.__doc__ or "").split("Defaults are", 1)[0]


def _masked(fields: dict[str, Any]) -> dict[str, Any]:
    """A customer's fields as a viewer sees them: initials and the phone's last digits (see
    common/privacy.py); before their validation, in the listing and the detail alike."""
    fields["name"] = mask_name(fields["name"])
    fields["phone"] = mask_phone(fields["phone"])
    fields["customer_key"] = mask_customer_key(fields["customer_key"]) or fields["customer_key"]
    return fields


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
@read_only
async def list_customers(
    ctx: Context,
    session: Session,
    user: CurrentUser,
    filters: CustomerFilterQuery,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    sort: repository.CustomerSort = "spend",
    order: Literal["asc", "desc"] = "desc",
    with_summary: bool = True,
) -> Any:
    now, config, accounts = filters.now, filters.config, filters.account_ids
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
    items = [customer_fields(row, now, config) for row in rows]
    if not sees_personal_data(user):
        items = [_masked(fields) for fields in items]
    return page_of(
        CustomerOut, items, total=total, skip=skip, limit=limit, page=CustomersPage, summary=summary
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
    spend = await repository.customer_spend(session, customer_id)
    total, orders = await orders_repository.list_orders(
        session,
        orders_repository.OrderFilter(customer_key=customer.customer_key),
        ORDER_COLUMNS,
        sort="order_date",
        descending=True,
        offset=skip,
        limit=limit,
    )
    fields = customer_fields(customer, now, analytics_config(request))
    return CustomerDetail(
        customer=CustomerOut.model_validate(
            fields if sees_personal_data(user) else _masked(fields)
        ),
        accounts=[
            CustomerAccountOut(
                account_id=link.account_id,
                orders_count=link.orders_count,
                # The link's total less what it holds in other currencies than the customer's.
                total_spent=link.total_spent
                - sum(
                    (
                        s.total_spent
                        for s in spend
                        if s.account_id == link.account_id
                        and s.currency != (customer.currency or NO_CURRENCY)
                    ),
                    Decimal(0),
                ),
                spend_by_currency={
                    s.currency: s.total_spent for s in spend if s.account_id == link.account_id
                },
            )
            for link in links
        ],
        spend=[
            CustomerSpendOut(
                account_id=s.account_id,
                currency=s.currency,
                orders=s.orders_count,
                total_spent=s.total_spent,
            )
            for s in spend
        ],
        orders=Page[OrderOut](
            total=total,
            skip=skip,
            limit=limit,
            items=[private_order(user, OrderOut.model_validate(order)) for order in orders],
        ),
    )
