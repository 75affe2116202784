from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from magflow.common.schemas import UtcDateTime


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
    return_date: UtcDateTime | None
    last_seen_at: UtcDateTime


class ReturnsSyncOut(BaseModel):
    account_id: int
    read: int
    pages: int
