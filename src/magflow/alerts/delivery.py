"""Delivering alerts: each due delivery is leased, sent, and recorded; a failure is retried with
exponential backoff until ``MAGFLOW_ALERTS_MAX_ATTEMPTS``.

Backoff: after the n-th failed attempt the next one is due ``alerts_retry_seconds * 2^(n-1)``
later, capped at :data:`MAX_BACKOFF` (30 s, 1 min, 2 min... with the default 30 s).

A delivery is leased (``claimed_until``) by one atomic UPDATE before it is sent, for longer than
a send may take; several processes delivering at once never send the same one twice at once, and
one whose sender died is due again when its lease ends. Every step runs in its own short
transaction, and nothing here is awaited by a sync or a request.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from magflow.alerts import channels, repository
from magflow.alerts.models import AlertDelivery, Channel, DeliveryStatus
from magflow.context import AppContext

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
BATCH = 50
CONCURRENCY = 4


def backoff(retry_seconds: float, attempts: int) -> timedelta:
    """How long after its ``attempts``-th failure a delivery is tried again."""
    return min(timedelta(seconds=retry_seconds * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def lease(ctx: AppContext) -> timedelta:
    settings = ctx.settings
    longest = max(settings.smtp_timeout_seconds * 3, settings.alerts_webhook_timeout_seconds)
    return timedelta(seconds=longest + 30)


async def deliver_due(ctx: AppContext, now: datetime | None = None) -> dict[int, str]:
    """Send every delivery due at ``now`` (default: the current time); their new statuses."""
    now = now or datetime.now(UTC)
    async with ctx.db.session() as session:
        due = await repository.due_deliveries(session, now, BATCH)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(delivery_id: int) -> tuple[int, str | None]:
        async with slots:
            return delivery_id, await deliver(ctx, delivery_id, now)

    results = await asyncio.gather(*(one(i) for i in due))
    return {i: status for i, status in results if status is not None}


async def deliver(ctx: AppContext, delivery_id: int, now: datetime) -> str | None:
    """Lease, send and record one delivery; its new status, or None when another process holds
    it (or it is no longer pending)."""
    async with ctx.db.session() as session:
        claimed = await repository.claim_delivery(session, delivery_id, now, now + lease(ctx))
        await session.commit()
        if not claimed:
            return None
        found = await repository.get_delivery(session, delivery_id)
        assert found is not None
        delivery, event = found
        webhook = (
            await repository.get_webhook(session, delivery.webhook_id)
            if delivery.webhook_id is not None
            else None
        )
        url = secret = None
        if webhook is not None and webhook.enabled:
            url = ctx.cipher.decrypt(webhook.url_encrypted)
            secret = ctx.cipher.decrypt(webhook.secret_encrypted)
    error: channels.SendError | None = None
    try:
        if delivery.channel == Channel.email.value:
            await channels.send_email(ctx.settings, event, delivery.recipient)
        elif url is None or secret is None:
            raise channels.SendError("the webhook was deleted or disabled", permanent=True)
        else:
            await channels.post_webhook(
                url, secret, event, delivery.id, now, ctx.settings.alerts_webhook_timeout_seconds
            )
    except channels.SendError as exc:
        error = exc
    except Exception as exc:  # a bug must not leave the delivery leased and unexplained
        log.exception("alert delivery %s failed unexpectedly", delivery_id)
        error = channels.SendError(f"unexpected error: {type(exc).__name__}")
    async with ctx.db.session() as session:
        row = await session.get(AlertDelivery, delivery_id)
        assert row is not None
        row.attempts += 1
        row.claimed_until = None
        if error is None:
            row.status = DeliveryStatus.delivered.value
            row.delivered_at = datetime.now(UTC)
            row.last_error = None
        else:
            row.last_error = str(error)
            if error.permanent or row.attempts >= ctx.settings.alerts_max_attempts:
                row.status = DeliveryStatus.failed.value
            else:
                row.next_attempt_at = now + backoff(ctx.settings.alerts_retry_seconds, row.attempts)
            log.warning(
                "alert delivery %s (%s to %s), attempt %s: %s",
                delivery_id,
                row.channel,
                row.recipient,
                row.attempts,
                error,
            )
        status = row.status
        await session.commit()
    return status
