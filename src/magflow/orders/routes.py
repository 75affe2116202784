from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from magflow.auth.dependencies import CurrentUser
from magflow.common.deps import AccountIds, Context, Session, read_only
from magflow.common.listing import COUNT_CACHE_TTL_SECONDS, listing_total
from magflow.common.privacy import sees_personal_data
from magflow.common.schemas import IdPath, Page, Skip, page_of
from magflow.orders import daily, repository
from magflow.orders.schemas import (
    DailyOrdersOut,
    OrderDetailOut,
    OrderFilterQuery,
    OrderOut,
    private_order,
    private_order_fields,
)

router = APIRouter(prefix="/api/v1/emag/orders", tags=["orders"])


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
@read_only
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
        LISTING_COLUMNS,
        sort=sort,
        descending=order == "desc",
        offset=skip,
        limit=limit,
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
    if not sees_personal_data(user):
        for row in rows:
            private_order_fields(row)
    return page_of(OrderOut, rows, total=total, skip=skip, limit=limit)


@router.get(
    "/daily",
    response_model=DailyOrdersOut,
    summary="Orders and revenue per day",
    description=(
        "Orders (every status) and revenue (cancelled and returned orders left out) per day and "
        "currency over the last `days` days, today included, one entry per day. Days are "
        "calendar days in the account's platform time zone (Europe/Bucharest for RO, "
        "Europe/Sofia for BG, Europe/Budapest for HU), named in `timezone`."
    ),
)
async def daily_orders(
    session: Session,
    _user: CurrentUser,
    days: Annotated[
        int, Query(ge=1, le=daily.MAX_DAYS, description="How many days, today included")
    ] = 30,
    account_ids: AccountIds = None,
) -> Any:
    return await daily.daily_orders(session, account_ids, days)


@router.get("/{order_id}", response_model=OrderDetailOut)
async def get_order(session: Session, user: CurrentUser, order_id: IdPath) -> Any:
    order = await repository.get_order(session, order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no order {order_id}")
    return private_order(user, OrderDetailOut.model_validate(order))
