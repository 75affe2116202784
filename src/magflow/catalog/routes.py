from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from magflow.auth.dependencies import CurrentUser
from magflow.catalog import repository
from magflow.catalog.schemas import OfferFilterQuery, OfferOut
from magflow.common.deps import Context, Session, read_only
from magflow.common.listing import COUNT_CACHE_TTL_SECONDS, listing_total
from magflow.common.schemas import IdPath, Page, Skip, page_of

router = APIRouter(prefix="/api/v1/emag/offers", tags=["offers"])


#: What a listing row shows (OfferOut): ``raw``, ``images`` and the rest stay in the database.
LISTING_COLUMNS = tuple(OfferOut.model_fields)


@router.get(
    "",
    response_model=Page[OfferOut],
    description=(
        "`total` counts the matching offers: exactly when the page reaches the last of them, "
        "else counted at most "
        f"{COUNT_CACHE_TTL_SECONDS:g} s before (cached per filter; cleared when a sync, a bulk "
        "job or a stock change ends)."
    ),
)
@read_only
async def list_offers(
    ctx: Context,
    session: Session,
    _user: CurrentUser,
    filters: OfferFilterQuery,
    sort: Literal["id", "emag_id", "name", "sale_price", "stock", "updated_at"] = "id",
    order: Literal["asc", "desc"] = "asc",
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    rows = await repository.page_offers(
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
        "offers",
        filters,
        skip=skip,
        limit=limit,
        page_rows=len(rows),
        count=lambda: repository.count_offers(session, filters),
    )
    return page_of(OfferOut, rows, total=total, skip=skip, limit=limit)


@router.get("/{offer_id}", response_model=OfferOut)
async def get_offer(session: Session, _user: CurrentUser, offer_id: IdPath) -> Any:
    offer = await repository.get_offer(session, offer_id)
    if offer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no offer {offer_id}")
    return offer
