"""Sync runs: one row of ``emag_sync_logs`` per run, also its checkpoint and live progress."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from magflow.db.base import Base, JSONType, TimestampMixin


class SyncKind(StrEnum):
    offers = "offers"
    orders = "orders"


class SyncMode(StrEnum):
    full = "full"
    incremental = "incremental"


class SyncStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    partial = "partial"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_active(self) -> bool:
        return self in (SyncStatus.queued, SyncStatus.running)


class SyncLog(TimestampMixin, Base):
    __tablename__ = "emag_sync_logs"
    __table_args__ = (
        Index("ix_emag_sync_logs_account_kind_status", "account_id", "kind", "status"),
        Index("ix_emag_sync_logs_created_at", "created_at"),
        # At most one queued or running run per (account, kind): the database, not a check in
        # code, decides between two simultaneous triggers. Partial indexes work on both engines.
        Index(
            "uq_emag_sync_logs_one_active",
            "account_id",
            "kind",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("emag_accounts.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=SyncStatus.queued.value)
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    requested_by: Mapped[str | None] = mapped_column(String(320))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    total_items: Mapped[int | None]
    total_pages: Mapped[int | None]
    current_page: Mapped[int] = mapped_column(default=0)
    processed_items: Mapped[int] = mapped_column(default=0)
    created_items: Mapped[int] = mapped_column(default=0)
    updated_items: Mapped[int] = mapped_column(default=0)
    failed_items: Mapped[int] = mapped_column(default=0)
    throughput: Mapped[float | None]
    eta_seconds: Mapped[float | None]
    api_calls: Mapped[int] = mapped_column(default=0)
    retries: Mapped[int] = mapped_column(default=0)
    rate_limited: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    watermark: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    # A complete offers run that did not mark the offers it did not see missing, and why (see
    # ``sync.engine.missing_guard``): ``{"code": "missing_withheld", "reason", "message",
    # "withheld", ...}``; None when the run marked what it had to (or is not an offers run).
    warning: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The ids (``emag_products_v2.id``) of the offers withheld, so that a confirmation marks
    # exactly those. Deferred: listings of runs never load it.
    withheld_offer_ids: Mapped[list[int] | None] = deferred(mapped_column(JSONType))
    # When and by whom the withheld offers were confirmed missing (once: a second confirmation
    # changes nothing).
    missing_confirmed_at: Mapped[datetime | None]
    missing_confirmed_by: Mapped[str | None] = mapped_column(String(320))
