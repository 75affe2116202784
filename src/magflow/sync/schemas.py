from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from magflow.common.dates import UserDateTime
from magflow.common.schemas import UtcDateTime
from magflow.sync.models import SyncMode


class SyncRequest(BaseModel):
    """Which accounts to sync (all active ones when omitted) and how."""

    account: str | None = Field(default=None, description="account name or id; all when omitted")
    mode: SyncMode | None = Field(
        default=None,
        description="full or incremental; orders default to incremental, offers are always full",
    )
    since: UserDateTime | None = Field(
        default=None,
        description=(
            "orders only: the first order date to read (default: 90 days back); implies "
            "`mode: full`. A plain date (2026-11-20) or a time without a zone is the account's "
            "platform time (Europe/Bucharest, Sofia or Budapest), resolved per account."
        ),
    )


class SyncRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int | None
    kind: str
    mode: str
    status: str
    trigger: str
    requested_by: str | None
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    total_items: int | None
    total_pages: int | None
    current_page: int
    processed_items: int
    created_items: int
    updated_items: int
    failed_items: int
    throughput: float | None
    eta_seconds: float | None
    api_calls: int
    retries: int
    rate_limited: int
    errors: list[dict[str, Any]]
    cancel_requested: bool
    warning: dict[str, Any] | None = Field(
        default=None,
        description=(
            "a completed offers run that did not mark the offers it did not see missing: "
            "`code` (`missing_withheld`), `reason` (`count_unknown`: eMAG's count could not be "
            "read; `count_short`: fewer offers read than eMAG counted; `share`: more than "
            "MAGFLOW_MISSING_GUARD_SHARE of the account's offers), `message`, `withheld` (how "
            "many), `seen`, `counted`, `present`, `share_limit`. Confirm with "
            "`POST /api/v1/emag/enhanced/sync/{run_id}/confirm-missing`"
        ),
    )
    missing_confirmed_at: UtcDateTime | None = None
    missing_confirmed_by: str | None = None


class MissingConfirmedOut(BaseModel):
    run: SyncRunOut
    marked: int = Field(description="offers marked missing by this confirmation")
    already_confirmed: bool = Field(
        description="the run's withheld offers were confirmed before: nothing was changed"
    )


class SyncStarted(BaseModel):
    runs: list[SyncRunOut]
