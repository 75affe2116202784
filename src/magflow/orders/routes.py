from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import Field

from magflow.auth.dependencies import CurrentUser
from magflow.catalog.routes import account_ids
from magflow.common.deps import Context, Session
from magflow.common.listing import COUNT_CACHE_TTL_SECONDS, listing_total
from magflow.common.privacy import (
    mask_customer_key,
    mask_document,
    mask_name,
    sees_personal_data,
)
from magflow.common.schemas import IdPath, Page, Skip
from magflow.orders import repository
from magflow.orders.schemas import OrderDetailOut, OrderOut

router = APIRouter(prefix="/api/v1/emag/orders", tags=["orders"])


async def order_filter(
    session: Session,
    account: str | None = None,
    order_status: Annotated[
        list[Annotated[int, Field(ge=0, le=5)]] | None,
        Query(alias="status", description="eMAG order statuses 0-5, repeatable"),
    ] = None,
    order_type: Annotated[int | None, Query(alias="type", ge=2, le=3)] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> repository.OrderFilter:
    """The orders' filters from the query string (the listing's and the export's)."""
    for bound in (date_from, date_to):
        if bound is not None and bound.tzinfo is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                detail="date_from/date_to need a timezone, e.g. 2026-01-31T00:00:00Z",
            )
    return repository.OrderFilter(
        account_ids=await account_ids(session, account),
        status=order_status,
        order_type=order_type,
        search=search,
        date_from=date_from,
        date_to=date_to,
    )


OrderFilterQuery = Annotated[repository.OrderFilter, Depends(order_filter)]

#: What a listing row shows (OrderOut): the JSON payloads are left in the database.
LISTING_COLUMNS = tuple(OrderOut.model_fields)


@router.get(
    "",
    response_model=Page[OrderOut],
    description=(
        "`total` counts the matching orders: exactly when the page reaches the last of them, "
        "else counted at most "
        f"{COUNT_CACHE_TTL_SECONDS:g} s before (cached per filter; cleared when a sync, a bulk "
        "job or an order action ends)."
    ),
)
async def list_orders(
    ctx: Context,
    session: Session,
    user: CurrentUser,
    filters: OrderFilterQuery,
    sort: Literal["id", "emag_id", "order_date", "status", "total", "modified"] = "order_date",
    order: Literal["asc", "desc"] = "desc",
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    rows = await repository.page_orders(
        session,
        filters,
        sort=sort,
        descending=order == "desc",
        offset=skip,
        limit=limit,
        columns=LISTING_COLUMNS,
    )
    total = await listing_total(
        ctx.cache,
        "orders",
        filters,
        skip=skip,
        limit=limit,
        page_rows=len(rows),
        count=lambda: repository.count_orders(session, filters),
    )
    items = [OrderOut.model_validate(r) for r in rows]
    if not sees_personal_data(user):  # viewers: names as initials (common/privacy.py)
        for item in items:
            item.customer_name = mask_name(item.customer_name)
            item.customer_key = mask_customer_key(item.customer_key)
    return Page[OrderOut](total=total, skip=skip, limit=limit, items=items)


@router.get("/{order_id}", response_model=OrderDetailOut)
async def get_order(session: Session, user: CurrentUser, order_id: IdPath) -> Any:
    order = await repository.get_order(session, order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no order {order_id}")
    if sees_personal_data(user):
        return order
    out = OrderDetailOut.model_validate(order)  # viewers: personal data masked
    out.customer_name = mask_name(out.customer_name)
    out.customer_key = mask_customer_key(out.customer_key)
    out.customer = mask_document(out.customer)
    return out
