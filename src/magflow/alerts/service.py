"""Alert rules, webhooks, opt-ins and the evaluation that raises alerts. Never commits: the
caller owns the transaction (the routes, or :mod:`magflow.alerts.worker`)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.alerts import conditions, repository
from magflow.alerts.models import (
    THRESHOLDS,
    AlertDelivery,
    AlertRule,
    AlertSubscription,
    AlertWebhook,
    Channel,
    RuleKind,
)
from magflow.alerts.schemas import RuleCreate, RuleUpdate, WebhookCreate, WebhookUpdate
from magflow.common.crypto import CredentialCipher
from magflow.common.errors import NotFoundError

# Kinds about something that belongs to no single account (a bulk operation spans accounts).
ACCOUNTLESS = frozenset({RuleKind.bulk_failures})


class RuleNotFoundError(NotFoundError):
    pass


class WebhookNotFoundError(NotFoundError):
    pass


class InvalidRuleError(ValueError):
    """A rule that cannot work as asked (422, with this message)."""


class WebhookExistsError(ValueError):
    pass


# --- rules ---------------------------------------------------------------------------------------


def threshold_unit(kind: str) -> str | None:
    spec = THRESHOLDS.get(RuleKind(kind))
    return spec[0] if spec else None


def _threshold(kind: RuleKind, value: int | None) -> int | None:
    spec = THRESHOLDS.get(kind)
    if spec is None:
        if value is not None:
            raise InvalidRuleError(f"a {kind.value} rule takes no threshold")
        return None
    unit, low, high, default = spec
    if value is None:
        return default
    if not low <= value <= high:
        raise InvalidRuleError(
            f"a {kind.value} rule's threshold is in {unit}, from {low} to {high}: got {value}"
        )
    return value


async def _account_id(session: AsyncSession, kind: RuleKind, account: str | None) -> int | None:
    if account is None:
        return None
    if kind in ACCOUNTLESS:
        raise InvalidRuleError(f"a {kind.value} rule watches every account: give no account")
    try:
        return (await accounts_service.get_account(session, account)).id
    except accounts_service.AccountNotFoundError as exc:
        raise InvalidRuleError(str(exc)) from exc


async def _webhook_ids(session: AsyncSession, ids: Sequence[int]) -> list[int]:
    unique = list(dict.fromkeys(ids))
    missing = set(unique) - await repository.existing_webhook_ids(session, unique)
    if missing:
        raise InvalidRuleError(f"no webhook numbered {', '.join(map(str, sorted(missing)))}")
    return unique


async def create_rule(session: AsyncSession, data: RuleCreate, created_by: str) -> AlertRule:
    rule = AlertRule(
        name=data.name,
        kind=data.kind.value,
        account_id=await _account_id(session, data.kind, data.account),
        threshold=_threshold(data.kind, data.threshold),
        enabled=data.enabled,
        notify_email=data.notify_email,
        webhook_ids=await _webhook_ids(session, data.webhook_ids),
        created_by=created_by,
    )
    repository.add(session, rule)
    await session.flush()
    return rule


async def get_rule(session: AsyncSession, rule_id: int) -> AlertRule:
    rule = await repository.get_rule(session, rule_id)
    if rule is None:
        raise RuleNotFoundError(f"no alert rule numbered {rule_id}")
    return rule


async def list_rules(session: AsyncSession) -> Sequence[AlertRule]:
    return await repository.list_rules(session)


async def update_rule(session: AsyncSession, rule_id: int, data: RuleUpdate) -> AlertRule:
    rule = await get_rule(session, rule_id)
    kind = RuleKind(rule.kind)
    if data.name is not None:
        rule.name = data.name
    if data.all_accounts:
        rule.account_id = None
    elif data.account is not None:
        rule.account_id = await _account_id(session, kind, data.account)
    if data.threshold is not None:
        rule.threshold = _threshold(kind, data.threshold)
    if data.enabled is not None:
        rule.enabled = data.enabled
    if data.notify_email is not None:
        rule.notify_email = data.notify_email
    if data.webhook_ids is not None:
        rule.webhook_ids = await _webhook_ids(session, data.webhook_ids)
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, rule_id: int) -> AlertRule:
    rule = await get_rule(session, rule_id)
    await repository.delete(session, rule)
    await session.flush()
    return rule


# --- webhooks ------------------------------------------------------------------------------------


def url_hint(url: str) -> str:
    """Scheme and host of a webhook URL: Slack's and others' carry their secret in the path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


async def create_webhook(
    session: AsyncSession, cipher: CredentialCipher, data: WebhookCreate
) -> tuple[AlertWebhook, str]:
    """The webhook and its signing secret (32 random bytes, URL-safe), returned once."""
    if await repository.webhook_by_name(session, data.name) is not None:
        raise WebhookExistsError(f"a webhook named {data.name!r} already exists")
    secret = secrets.token_urlsafe(32)
    webhook = AlertWebhook(
        name=data.name,
        url_encrypted=cipher.encrypt(str(data.url)),
        url_hint=url_hint(str(data.url)),
        secret_encrypted=cipher.encrypt(secret),
        enabled=data.enabled,
    )
    repository.add(session, webhook)
    await session.flush()
    return webhook, secret


async def get_webhook(session: AsyncSession, webhook_id: int) -> AlertWebhook:
    webhook = await repository.get_webhook(session, webhook_id)
    if webhook is None:
        raise WebhookNotFoundError(f"no webhook numbered {webhook_id}")
    return webhook


async def list_webhooks(session: AsyncSession) -> Sequence[AlertWebhook]:
    return await repository.list_webhooks(session)


async def update_webhook(
    session: AsyncSession, cipher: CredentialCipher, webhook_id: int, data: WebhookUpdate
) -> tuple[AlertWebhook, str | None]:
    """The webhook, and its new secret when ``rotate_secret`` asked for one."""
    webhook = await get_webhook(session, webhook_id)
    if data.name is not None and data.name != webhook.name:
        if await repository.webhook_by_name(session, data.name) is not None:
            raise WebhookExistsError(f"a webhook named {data.name!r} already exists")
        webhook.name = data.name
    if data.url is not None:
        webhook.url_encrypted = cipher.encrypt(str(data.url))
        webhook.url_hint = url_hint(str(data.url))
    if data.enabled is not None:
        webhook.enabled = data.enabled
    secret = None
    if data.rotate_secret:
        secret = secrets.token_urlsafe(32)
        webhook.secret_encrypted = cipher.encrypt(secret)
    await session.flush()
    return webhook, secret


async def delete_webhook(session: AsyncSession, webhook_id: int) -> AlertWebhook:
    """Delete the webhook and take it out of every rule; its past deliveries stay in the log."""
    webhook = await get_webhook(session, webhook_id)
    for rule in await repository.list_rules(session):
        if webhook_id in (rule.webhook_ids or []):
            rule.webhook_ids = [i for i in rule.webhook_ids if i != webhook_id]
    await repository.delete(session, webhook)
    await session.flush()
    return webhook


# --- opt-in --------------------------------------------------------------------------------------


async def email_opt_in(session: AsyncSession, user_id: int) -> bool:
    subscription = await repository.get_subscription(session, user_id)
    return subscription is not None and subscription.email


async def set_email_opt_in(session: AsyncSession, user_id: int, email: bool) -> bool:
    subscription = await repository.get_subscription(session, user_id)
    if subscription is None:
        subscription = AlertSubscription(user_id=user_id, email=email)
        repository.add(session, subscription)
    subscription.email = email
    await session.flush()
    return subscription.email


# --- evaluation ----------------------------------------------------------------------------------


async def evaluate(session: AsyncSession, now: datetime, *, email_enabled: bool) -> list[int]:
    """Raise the alerts every enabled rule finds at ``now``; the ids of the new ones.

    Each new alert gets a pending delivery per recipient: every opted-in active user (when the
    rule asks for e-mail and SMTP is configured) and every enabled webhook of the rule. An alert
    already raised (same rule, subject and version) is skipped by the unique key, so evaluating
    again, or in two processes at once, raises nothing twice."""
    rules = await repository.list_rules(session, enabled_only=True)
    if not rules:
        return []
    names = await repository.account_names(session)
    emails = await repository.email_recipients(session) if email_enabled else []
    webhooks = {w.id: w for w in await repository.list_webhooks(session) if w.enabled}
    raised: list[int] = []
    for rule in rules:
        for found in await conditions.find(session, rule, now, names):
            event_id = await repository.insert_event(
                session,
                {
                    "rule_id": rule.id,
                    "kind": rule.kind,
                    "dedupe_key": f"{rule.id}:{found.subject}:{found.version}"[:255],
                    "subject": found.subject,
                    "account_id": found.account_id,
                    "text": found.text,
                    "details": {"rule": rule.name, **found.details},
                    "created_at": now,
                },
            )
            if event_id is None:
                continue
            raised.append(event_id)
            recipients: list[tuple[Channel, str, int | None]] = []
            if rule.notify_email:
                recipients += [(Channel.email, address, None) for address in emails]
            recipients += [
                (Channel.webhook, webhooks[i].name, i) for i in rule.webhook_ids if i in webhooks
            ]
            for channel, recipient, webhook_id in recipients:
                repository.add(
                    session,
                    AlertDelivery(
                        event_id=event_id,
                        channel=channel.value,
                        recipient=recipient,
                        webhook_id=webhook_id,
                        next_attempt_at=now,
                        created_at=now,
                    ),
                )
    await session.flush()
    return raised
