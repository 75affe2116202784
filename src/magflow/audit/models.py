"""One row per request MagFlow sends to eMAG that changes something there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, JSONType, utcnow


class AuditLog(Base):
    """Who sent what to eMAG, for which account, and what eMAG answered.

    ``emag_route`` is the eMAG API route (``order/save``, ``offer/save``...), ``action`` the
    MagFlow operation (``orders.status``, ``bulk.offers``...). ``request`` is the body sent
    (credentials are never part of a body; keys that look like secrets are masked anyway),
    ``response`` eMAG's decoded answer, ``status_code`` its HTTP status (None when no answer came),
    ``messages`` eMAG's own messages. Rows are append-only.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_created_at", "created_at"),
        Index("ix_audit_log_account_created", "account_id", "created_at"),
        Index("ix_audit_log_action", "action"),
        Index("ix_audit_log_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None]
    user_email: Mapped[str | None] = mapped_column(String(320))
    account_id: Mapped[int | None]
    account_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    emag_route: Mapped[str] = mapped_column(String(128))
    http_method: Mapped[str] = mapped_column(String(8), default="POST")
    target: Mapped[str | None] = mapped_column(String(128))
    request: Mapped[Any] = mapped_column(JSONType, nullable=True)
    status_code: Mapped[int | None]
    success: Mapped[bool] = mapped_column(default=False)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    messages: Mapped[list[str] | None] = mapped_column(JSONType)
    response: Mapped[Any] = mapped_column(JSONType, nullable=True)
    duration_ms: Mapped[int | None]
    bulk_operation_id: Mapped[int | None]
