from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from magflow.auth.dependencies import CurrentUser
from magflow.common.deps import Context, Session
from magflow.common.listing import COUNT_CACHE_TTL_SECONDS, listing_total
from magflow.common.schemas import IdPath, Page, Skip
from magflow.orders import repository
from magflow.orders.schemas import OrderDetailOut, OrderFilterQuery, OrderOut

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
async def list_orders(
    ctx: Context,
    session: Session,
    _user: CurrentUser,
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
    return Page[OrderOut](
        total=total, skip=skip, limit=limit, items=[OrderOut.model_validate(r) for r in rows]
    )


@router.get("/{order_id}", response_model=OrderDetailOut)
async def get_order(session: Session, _user: CurrentUser, order_id: IdPath) -> Any:
    order = await repository.get_order(session, order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no order {order_id}")
    return order
