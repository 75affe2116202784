"""Sending one alert: an e-mail through SMTP (aiosmtplib) or a signed JSON POST to a webhook.

A send either returns (delivered) or raises :class:`SendError`, whose message is what the delivery
log shows; ``permanent`` marks a failure that retrying cannot fix (a webhook answering 4xx other
than 408 and 429: gone, or refusing the body).

**Webhook body** (Slack-compatible: Slack's incoming webhooks read ``text`` and ignore the rest)::

    {"text": "...", "alert": {"id", "kind", "rule", "subject", "account_id", "created_at",
     "details": {...}}, "delivery_id": 12, "timestamp": "2026-11-29T23:00:00+00:00"}

Headers: ``X-MagFlow-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the
webhook's secret>`` (a receiver recomputes it over the raw body and compares in constant time),
``X-MagFlow-Event: alert.<kind>`` and ``X-MagFlow-Delivery: <delivery id>`` (the same for every
retry of a delivery, so a receiver can drop duplicates).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import orjson

from magflow.alerts.models import AlertEvent
from magflow.settings import Settings

SIGNATURE_HEADER = "X-MagFlow-Signature"
MAX_ERROR = 500


class SendError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message[:MAX_ERROR])
        self.permanent = permanent


def sign(secret: str, body: bytes) -> str:
    """The value of ``X-MagFlow-Signature`` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(event: AlertEvent, delivery_id: int, now: datetime) -> bytes:
    payload: dict[str, Any] = {
        "text": event.text,
        "alert": {
            "id": event.id,
            "kind": event.kind,
            "rule": event.details.get("rule"),
            "subject": event.subject,
            "account_id": event.account_id,
            "created_at": event.created_at.isoformat(),
            "details": event.details,
        },
        "delivery_id": delivery_id,
        "timestamp": now.isoformat(),
    }
    return orjson.dumps(payload)


async def post_webhook(
    url: str, secret: str, event: AlertEvent, delivery_id: int, now: datetime, seconds: float
) -> None:
    body = webhook_body(event, delivery_id, now)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body),
        "X-MagFlow-Event": f"alert.{event.kind}",
        "X-MagFlow-Delivery": str(delivery_id),
        "User-Agent": "MagFlow-Alerts",
    }
    try:
        async with httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        # The exception's text may hold the URL (a secret): name the failure by its type.
        raise SendError(f"webhook unreachable: {type(exc).__name__}") from None
    if response.is_success:
        return
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    raise SendError(
        f"webhook answered HTTP {response.status_code}: {response.text[:200]}",
        permanent=permanent,
    )


def email_message(settings: Settings, event: AlertEvent, recipient: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = recipient
    message["Subject"] = f"[MagFlow] {event.text}"[:200]
    details = "\n".join(f"{k}: {v}" for k, v in event.details.items())
    message.set_content(
        f"{event.text}\n\n{details}\n\nAlert {event.id} ({event.kind}), raised "
        f"{event.created_at.isoformat()}.\nYou get this because you opted in to MagFlow alert "
        "e-mails; opt out on the dashboard's Alerts page.\n"
    )
    return message


async def send_email(settings: Settings, event: AlertEvent, recipient: str) -> None:
    if not settings.smtp_host:
        raise SendError("MAGFLOW_SMTP_HOST is not set", permanent=True)
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        await aiosmtplib.send(
            email_message(settings, event, recipient),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=password,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise SendError(f"SMTP {settings.smtp_host}:{settings.smtp_port}: {exc}") from None
