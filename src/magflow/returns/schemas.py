from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ReturnOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int
    emag_id: int
    order_emag_id: int | None
    order_type: int | None
    request_status: int | None
    return_type: int | None
    return_reason: int | None
    pickup_method: int | None
    customer_name: str | None
    products: list[dict[str, Any]] | None
    return_date: datetime | None
    last_seen_at: datetime


class ReturnsSyncOut(BaseModel):
    account_id: int
    read: int
    pages: int
