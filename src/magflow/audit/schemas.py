from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from magflow.common.schemas import UtcDateTime


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: UtcDateTime
    user_id: int | None
    user_email: str | None
    account_id: int | None
    account_name: str | None
    action: str
    emag_route: str
    http_method: str
    target: str | None
    request: Any
    status_code: int | None
    success: bool
    error_kind: str | None
    messages: list[str] | None
    response: Any
    duration_ms: int | None
    bulk_operation_id: int | None
