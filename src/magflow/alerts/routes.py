"""The alerts API (``/api/v1/alerts``): rules and webhooks (admins), the delivery log
(operators and admins), and each user's own e-mail opt-in.

Changes to rules and webhooks are recorded in the audit log (action ``alerts.*``, no eMAG route)
after they are committed; a webhook's URL and secret never reach it, nor any answer but the one
that creates the secret.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from magflow.alerts import repository, service
from magflow.alerts.models import AlertRule, Channel, DeliveryStatus, RuleKind
from magflow.alerts.schemas import (
    DeliveryOut,
    RuleCreate,
    RuleOut,
    RuleUpdate,
    SubscriptionOut,
    SubscriptionUpdate,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)
from magflow.audit.service import Actor, Auditor, Outcome
from magflow.auth.dependencies import Admin, CurrentUser, Operator
from magflow.auth.models import User
from magflow.common.deps import Context, Session
from magflow.common.errors import UNPROCESSABLE
from magflow.common.schemas import IdPath, IdQuery, Page, Skip
from magflow.context import AppContext

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

NO_EMAG_ROUTE = "-"  # audit rows of MagFlow settings, not of a write to eMAG


async def _audit(
    ctx: AppContext, user: User, action: str, method: str, target: str, request: Any
) -> None:
    await Auditor(ctx.db, Actor.of(user)).record(
        action=action,
        emag_route=NO_EMAG_ROUTE,
        http_method=method,
        target=target,
        request=request,
        outcome=Outcome(status_code=None, success=True, messages=[]),
    )


def _rule_out(rule: AlertRule) -> RuleOut:
    out = RuleOut.model_validate(rule)
    out.threshold_unit = service.threshold_unit(rule.kind)
    return out


def _invalid(exc: ValueError) -> HTTPException:
    return HTTPException(UNPROCESSABLE, detail=str(exc))


# --- rules ---------------------------------------------------------------------------------------


@router.get("/rules", response_model=list[RuleOut])
async def list_rules(session: Session, _user: CurrentUser) -> Any:
    return [_rule_out(r) for r in await service.list_rules(session)]


@router.post("/rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED)
async def create_rule(ctx: Context, session: Session, admin: Admin, body: RuleCreate) -> Any:
    """A rule: when ``kind`` happens (on ``account``, or any), tell the opted-in users by e-mail
    (``notify_email``) and the webhooks ``webhook_ids``."""
    try:
        rule = await service.create_rule(session, body, admin.email)
    except service.InvalidRuleError as exc:
        raise _invalid(exc) from exc
    await session.commit()
    await _audit(
        ctx, admin, "alerts.rule.create", "POST", f"alert_rule:{rule.id}", body.model_dump()
    )
    return _rule_out(rule)


@router.get("/rules/{rule_id}", response_model=RuleOut)
async def get_rule(session: Session, _user: CurrentUser, rule_id: IdPath) -> Any:
    return _rule_out(await service.get_rule(session, rule_id))


@router.patch("/rules/{rule_id}", response_model=RuleOut)
async def update_rule(
    ctx: Context, session: Session, admin: Admin, rule_id: IdPath, body: RuleUpdate
) -> Any:
    try:
        rule = await service.update_rule(session, rule_id, body)
    except service.InvalidRuleError as exc:
        raise _invalid(exc) from exc
    await session.commit()
    await _audit(
        ctx,
        admin,
        "alerts.rule.update",
        "PATCH",
        f"alert_rule:{rule.id}",
        body.model_dump(exclude_unset=True),
    )
    return _rule_out(rule)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(ctx: Context, session: Session, admin: Admin, rule_id: IdPath) -> None:
    """Delete the rule, with its alerts and their delivery log."""
    rule = await service.delete_rule(session, rule_id)
    await session.commit()
    await _audit(
        ctx, admin, "alerts.rule.delete", "DELETE", f"alert_rule:{rule_id}", {"name": rule.name}
    )


# --- webhooks ------------------------------------------------------------------------------------


@router.get("/webhooks", response_model=list[WebhookOut])
async def list_webhooks(session: Session, _admin: Admin) -> Any:
    return await service.list_webhooks(session)


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "Name already used"}},
)
async def create_webhook(ctx: Context, session: Session, admin: Admin, body: WebhookCreate) -> Any:
    """A webhook; the answer carries its signing ``secret``, shown this once."""
    try:
        webhook, secret = await service.create_webhook(session, ctx.cipher, body)
    except service.WebhookExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    await session.commit()
    await _audit(
        ctx,
        admin,
        "alerts.webhook.create",
        "POST",
        f"alert_webhook:{webhook.id}",
        {"name": webhook.name, "url_hint": webhook.url_hint, "enabled": webhook.enabled},
    )
    out = WebhookCreated.model_validate(webhook)
    out.secret = secret
    return out


@router.patch("/webhooks/{webhook_id}", response_model=WebhookCreated)
async def update_webhook(
    ctx: Context, session: Session, admin: Admin, webhook_id: IdPath, body: WebhookUpdate
) -> Any:
    """Rename, re-point, enable or disable; ``rotate_secret`` returns a new secret, once."""
    try:
        webhook, secret = await service.update_webhook(session, ctx.cipher, webhook_id, body)
    except service.WebhookExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    await session.commit()
    await _audit(
        ctx,
        admin,
        "alerts.webhook.update",
        "PATCH",
        f"alert_webhook:{webhook.id}",
        {
            "name": webhook.name,
            "url_hint": webhook.url_hint,
            "url_changed": body.url is not None,
            "enabled": webhook.enabled,
            "rotated": body.rotate_secret,
        },
    )
    out = WebhookCreated.model_validate(webhook)
    out.secret = secret
    return out


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(ctx: Context, session: Session, admin: Admin, webhook_id: IdPath) -> None:
    webhook = await service.delete_webhook(session, webhook_id)
    await session.commit()
    await _audit(
        ctx,
        admin,
        "alerts.webhook.delete",
        "DELETE",
        f"alert_webhook:{webhook_id}",
        {"name": webhook.name},
    )


# --- delivery log --------------------------------------------------------------------------------


@router.get("/deliveries", response_model=Page[DeliveryOut])
async def list_deliveries(
    session: Session,
    _operator: Operator,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    channel: Channel | None = None,
    rule_id: IdQuery = None,
    kind: RuleKind | None = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """The delivery log, newest first: each alert, to whom, how many attempts, the last error
    and when the next attempt is due."""
    total, rows = await repository.list_deliveries(
        session,
        status=status_.value if status_ else None,
        channel=channel.value if channel else None,
        rule_id=rule_id,
        kind=kind.value if kind else None,
        skip=skip,
        limit=limit,
    )
    items = [
        DeliveryOut(
            id=d.id,
            event_id=e.id,
            rule_id=e.rule_id,
            kind=RuleKind(e.kind),
            subject=e.subject,
            account_id=e.account_id,
            text=e.text,
            details=e.details,
            channel=Channel(d.channel),
            recipient=d.recipient,
            status=DeliveryStatus(d.status),
            attempts=d.attempts,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at if d.status == DeliveryStatus.pending else None,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
        )
        for d, e in rows
    ]
    return Page[DeliveryOut](total=total, skip=skip, limit=limit, items=items)


# --- my opt-in -----------------------------------------------------------------------------------


@router.get("/subscription", response_model=SubscriptionOut)
async def my_subscription(ctx: Context, session: Session, user: CurrentUser) -> Any:
    """Whether alert e-mails come to me (``address``); ``smtp_configured`` false means no e-mail
    is sent to anyone (MAGFLOW_SMTP_HOST unset)."""
    return SubscriptionOut(
        email=await service.email_opt_in(session, user.id),
        address=user.email,
        smtp_configured=bool(ctx.settings.smtp_host),
    )


@router.put("/subscription", response_model=SubscriptionOut)
async def set_my_subscription(
    ctx: Context, session: Session, user: CurrentUser, body: SubscriptionUpdate
) -> Any:
    """Opt in to (or out of) alert e-mails, for myself; any role."""
    email = await service.set_email_opt_in(session, user.id, body.email)
    await session.commit()
    return SubscriptionOut(
        email=email, address=user.email, smtp_configured=bool(ctx.settings.smtp_host)
    )
