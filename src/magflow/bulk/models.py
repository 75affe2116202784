"""Bulk offer operations and their items."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, JSONType, TimestampMixin


class OperationStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"  # every valid item accepted by eMAG
    completed_with_errors = "completed_with_errors"  # some items invalid or refused
    failed = "failed"  # the operation could not run (nothing accepted)


class ItemStatus(StrEnum):
    invalid = "invalid"  # refused by local validation, never sent
    pending = "pending"  # waiting to be sent (or to be re-sent by a retry)
    # In a request to eMAG whose answer is not recorded yet. Written (committed) before the call,
    # so a process that dies mid-call leaves the item here and whoever resumes the operation reads
    # eMAG to learn whether the change landed before sending anything again.
    sending = "sending"
    succeeded = "succeeded"  # eMAG accepted it
    failed = "failed"  # eMAG refused it, or the request failed; retryable


class BulkOperation(TimestampMixin, Base):
    """One bulk request. Counters are kept in the same transaction as the items they count.

    ``worker_id`` and ``heartbeat_at`` are the claim of the process executing it (as for sync
    runs): taken by one atomic UPDATE, renewed while it runs, released on a clean shutdown; a claim
    whose heartbeat is older than ``MAGFLOW_SYNC_STALE_SECONDS`` belongs to a dead process and is
    taken over. ``requested_by_*`` is who asked for the current run (the creator, or whoever asked
    for the retry): the audit log names them even when another process resumes the run.
    """

    __tablename__ = "bulk_operations"
    __table_args__ = (
        Index("ix_bulk_operations_created_at", "created_at"),
        Index("ix_bulk_operations_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="offers")
    status: Mapped[str] = mapped_column(String(32), default=OperationStatus.queued.value)
    source: Mapped[str] = mapped_column(String(16), default="json")
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None]
    created_by_email: Mapped[str | None] = mapped_column(String(320))
    total_items: Mapped[int] = mapped_column(default=0)
    invalid_items: Mapped[int] = mapped_column(default=0)
    pending_items: Mapped[int] = mapped_column(default=0)
    succeeded_items: Mapped[int] = mapped_column(default=0)
    failed_items: Mapped[int] = mapped_column(default=0)
    requests_sent: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    requested_by_id: Mapped[int | None]
    requested_by_email: Mapped[str | None] = mapped_column(String(320))
    worker_id: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None]


class BulkOperationItem(Base):
    """One offer change of an operation: what was asked, what was sent, what eMAG said."""

    __tablename__ = "bulk_operation_items"
    __table_args__ = (
        Index("ix_bulk_operation_items_operation_status", "operation_id", "status"),
        Index("ix_bulk_operation_items_operation_position", "operation_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("bulk_operations.id", ondelete="CASCADE"))
    position: Mapped[int]
    account_id: Mapped[int | None]
    account_ref: Mapped[str | None] = mapped_column(String(64))
    offer_emag_id: Mapped[int | None] = mapped_column(BigInteger)
    offer_id: Mapped[int | None]  # emag_products_v2.id when found
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))
    messages: Mapped[list[str] | None] = mapped_column(JSONType)
    attempts: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime | None]
