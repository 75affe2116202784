"""Offers as the API shows them, and the offers' query-string filters (shared by the listing and
the export routes, so that no route module imports another)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict

from magflow.catalog import repository
from magflow.common.deps import AccountIds
from magflow.common.schemas import Money, UtcDateTime, codes_help
from magflow.emag.codes import OfferStatus


class OfferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int
    emag_id: int
    name: str | None
    brand: str | None
    part_number: str | None
    part_number_key: str | None
    ean: list[str] | None
    currency: str | None
    sale_price: Money | None
    sale_price_with_vat: Money | None
    recommended_price: Money | None
    min_sale_price: Money | None
    max_sale_price: Money | None
    vat_id: int | None
    stock: list[dict[str, Any]] | None
    stock_total: int
    general_stock: int | None
    estimated_stock: int | None
    handling_time: int | None
    status: int | None
    offer_validation_status: int | None
    validation_status: int | None
    buy_button_rank: int | None
    number_of_offers: int | None
    last_seen_at: UtcDateTime
    missing_since: UtcDateTime | None


async def offer_filter(
    account_ids: AccountIds,
    search: Annotated[str | None, Query(max_length=200)] = None,
    offer_status: Annotated[
        OfferStatus | None, Query(alias="status", description=codes_help(OfferStatus))
    ] = None,
    in_stock: bool | None = None,
    include_missing: bool = False,
) -> repository.OfferFilter:
    """The offers' filters from the query string (the listing's and the export's)."""
    return repository.OfferFilter(
        account_ids=account_ids,
        search=search,
        status=offer_status,
        in_stock=in_stock,
        include_missing=include_missing,
    )


OfferFilterQuery = Annotated[repository.OfferFilter, Depends(offer_filter)]
