"""Request and answer bodies of the alerts API. Webhook URLs and secrets are write-only: a
webhook is shown by its name and ``url_hint``; its secret is returned once, when created."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from magflow.alerts.models import Channel, DeliveryStatus, RuleKind
from magflow.common.schemas import DbId, UtcDateTime


class RuleCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    kind: RuleKind
    # An account's name or id; none: every account.
    account: str | None = Field(default=None, max_length=64)
    # Minutes (order_unacknowledged) or hours (shipping_due); the kind's default when omitted.
    threshold: int | None = Field(default=None, ge=1, le=100_000)
    enabled: bool = True
    notify_email: bool = True
    webhook_ids: list[DbId] = Field(default_factory=list, max_length=20)


class RuleUpdate(BaseModel):
    """Fields to change; the kind is fixed (make another rule for another kind)."""

    name: str | None = Field(default=None, min_length=1, max_length=128)
    account: str | None = Field(default=None, max_length=64)
    all_accounts: bool = False  # set to watch every account again
    threshold: int | None = Field(default=None, ge=1, le=100_000)
    enabled: bool | None = None
    notify_email: bool | None = None
    webhook_ids: list[DbId] | None = Field(default=None, max_length=20)


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: RuleKind
    account_id: int | None
    threshold: int | None
    threshold_unit: str | None = None
    enabled: bool
    notify_email: bool
    webhook_ids: list[int]
    created_by: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class WebhookCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    url: HttpUrl
    enabled: bool = True


class WebhookUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    url: HttpUrl | None = None
    enabled: bool | None = None
    # True: a new signing secret, returned once in this answer.
    rotate_secret: bool = False


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    url_hint: str
    enabled: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime


class WebhookCreated(WebhookOut):
    """A webhook as created (or with a rotated secret): ``secret`` is shown this once. Each
    POST carries ``X-MagFlow-Signature: sha256=<HMAC-SHA256 of the body with it, in hex>``."""

    secret: str | None = None


class SubscriptionOut(BaseModel):
    email: bool
    address: str
    smtp_configured: bool


class SubscriptionUpdate(BaseModel):
    email: bool


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    rule_id: int
    kind: RuleKind
    subject: str
    account_id: int | None
    text: str
    details: dict[str, Any]
    channel: Channel
    recipient: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: UtcDateTime | None
    delivered_at: UtcDateTime | None
    created_at: UtcDateTime
