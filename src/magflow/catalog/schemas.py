from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict


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
    sale_price: Decimal | None
    sale_price_with_vat: Decimal | None
    recommended_price: Decimal | None
    min_sale_price: Decimal | None
    max_sale_price: Decimal | None
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
    last_seen_at: datetime
    missing_since: datetime | None
