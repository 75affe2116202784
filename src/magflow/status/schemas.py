"""The enhanced status as the API shows it (``GET /api/v1/emag/enhanced/status``); what each
figure means is in :func:`magflow.status.service.enhanced_status`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from magflow.common.schemas import UtcDateTime

AccountType = Literal["main", "fbe", "both"]


class OfferCounts(BaseModel):
    total: int = 0
    active: int = 0
    sellable: int = 0
    out_of_stock: int = 0
    missing: int = 0


class OrderCounts(BaseModel):
    total: int = 0
    by_status: dict[str, int] = Field(
        default_factory=dict, description="cancelled, new, in_progress, prepared, finalized, …"
    )
    waiting_for_acknowledgement: int = Field(
        default=0,
        description="new orders fulfilled by the seller (eMAG acknowledges FBE orders itself)",
    )


class RunBrief(BaseModel):
    id: int
    status: str
    mode: str
    trigger: str
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    age_seconds: float = Field(description="Since it finished (or started, or was queued)")
    duration_seconds: float | None
    processed_items: int
    message: str | None = Field(description="The last error's message, when it did not complete")
    warning: str | None = Field(
        default=None,
        description="A completed offers run that withheld offers from missing, until confirmed",
    )


class KindStatus(BaseModel):
    schedule: str
    period_seconds: float | None
    last_run: RunBrief | None
    last_success: RunBrief | None
    running: bool


class RecentErrors(BaseModel):
    runs: int = Field(description="Finished runs considered (the latest RECENT_RUNS)")
    completed: int
    partial: int
    failed: int
    cancelled: int
    success_rate: float | None
    api_calls: int
    retries: int
    rate_limited: int = Field(description="HTTP 429 answers")
    server_errors: int = Field(description="Requests that still failed with a 5xx")
    auth_errors: int
    last_auth_error_at: UtcDateTime | None
    recent: list[dict[str, Any]] = Field(description="Latest 429/5xx/auth error entries")


class ReasonOut(BaseModel):
    factor: str
    penalty: float
    message: str


class HealthOut(BaseModel):
    score: int | None = Field(description="0-100; null for an inactive account")
    status: Literal["healthy", "warning", "critical", "inactive"]
    reasons: list[ReasonOut]


# -- eMAG's IP refusal (issue 13, point 10) --------------------------------------------------------


class IpRefusalOut(BaseModel):
    """eMAG refused the account's latest run with ``ERROR: Invalid vendor ip [x.x.x.x]``
    (docs/emag-protocol.md, "Answers and errors"): nothing works until the seller whitelists the
    server's IP, so the status says what to do and until when the schedules are paused."""

    run_id: int
    at: UtcDateTime | None
    ip: str | None = Field(description="The address eMAG quoted, when it quoted one")
    message: str = Field(description="eMAG's own message")
    hint: str
    schedules_paused_until: UtcDateTime | None = Field(
        description="Scheduled runs wait until then (a run started by hand is not held back)"
    )


class AccountStatus(BaseModel):
    id: int
    name: str
    platform: str
    account_type: str
    is_active: bool
    offers: OfferCounts
    orders: OrderCounts
    syncs: dict[str, KindStatus]
    recent: RecentErrors
    health: HealthOut
    ip_refusal: IpRefusalOut | None = Field(
        default=None, description="Set while eMAG refuses this server's IP for the account"
    )


class StatusSummary(BaseModel):
    accounts: int
    healthy: int
    warning: int
    critical: int
    inactive: int
    worst_score: int | None


class EnhancedStatus(BaseModel):
    generated_at: UtcDateTime = Field(description="When computed (the status is cached briefly)")
    account_type: AccountType
    schedules_enabled: bool
    summary: StatusSummary
    accounts: list[AccountStatus]
