"""Alerts: rules ("when X, tell Y"), webhooks, per-user e-mail opt-in, the alerts raised and their
deliveries (the delivery log).

An alert is raised once per (rule, subject, version): ``AlertEvent.dedupe_key`` is unique, so
evaluating the same condition again, in this process or another, inserts nothing. The *version* is
the part of the subject's state the rule is about (an order's deadline, a run's status, a bulk
operation's failure count...): when it changes, the key changes and the rule alerts again.

Each alert gets one delivery per recipient (an opted-in user's e-mail address, or a webhook). A
delivery is retried with exponential backoff (``next_attempt_at``) until it succeeds or runs out
of attempts; ``claimed_until`` is the lease of the process sending it, so two processes never send
the same delivery at once and a delivery whose sender died is picked up again when the lease
ends.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, JSONType, TimestampMixin, utcnow


class RuleKind(StrEnum):
    """What a rule watches. The parameter each needs is in :data:`THRESHOLDS`."""

    order_unacknowledged = "order_unacknowledged"  # new for more than N minutes
    shipping_due = "shipping_due"  # maximum_date_for_shipment within N hours
    late_shipment = "late_shipment"  # eMAG flags the order as shipped late
    cancellation_request = "cancellation_request"  # the customer asked to cancel
    sync_failed = "sync_failed"  # a sync run ended failed or partial
    bulk_failures = "bulk_failures"  # a bulk operation ended with failed or invalid items
    ip_refused = "ip_refused"  # eMAG refused this server's IP ("Invalid vendor ip")


#: The threshold a kind takes, with its unit, bounds and default; kinds not named take none.
THRESHOLDS: dict[RuleKind, tuple[str, int, int, int]] = {
    RuleKind.order_unacknowledged: ("minutes", 1, 7 * 24 * 60, 30),
    RuleKind.shipping_due: ("hours", 1, 14 * 24, 4),
}


class Channel(StrEnum):
    email = "email"
    webhook = "webhook"


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its (next) attempt
    delivered = "delivered"
    failed = "failed"  # out of attempts, or nothing to deliver to any more


class AlertRule(TimestampMixin, Base):
    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    # One account, or every account when None.
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("emag_accounts.id", ondelete="CASCADE")
    )
    # N minutes or hours for the kinds that take one (THRESHOLDS), else None.
    threshold: Mapped[int | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    # Tell: every user who opted in to e-mail alerts, and/or these webhooks (ids).
    notify_email: Mapped[bool] = mapped_column(default=True)
    webhook_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str | None] = mapped_column(String(320))


class AlertWebhook(TimestampMixin, Base):
    """A webhook. Its URL (Slack's carry a secret in the path) and its signing secret are stored
    encrypted with the credential cipher, like eMAG passwords, and never returned by the API."""

    __tablename__ = "alert_webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    url_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # Scheme and host of the URL: enough to recognise it, nothing secret.
    url_hint: Mapped[str] = mapped_column(String(300))
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(default=True)


class AlertSubscription(TimestampMixin, Base):
    """A user's opt-in to alert e-mails (sent to the user's address). No row: not opted in."""

    __tablename__ = "alert_subscriptions"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[bool] = mapped_column(default=False)


class AlertEvent(Base):
    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    # "<rule id>:<subject>:<version>", unique: one alert per rule, subject and version.
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    subject: Mapped[str] = mapped_column(String(64))  # order:<id>, sync_run:<id>, bulk:<id>
    account_id: Mapped[int | None]
    text: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertDelivery(Base):
    __tablename__ = "alert_deliveries"
    __table_args__ = (
        Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("alert_events.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    # The e-mail address, or the webhook's name (its URL is secret).
    recipient: Mapped[str] = mapped_column(String(320))
    webhook_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_webhooks.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.pending.value)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
