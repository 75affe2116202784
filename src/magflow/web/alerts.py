"""The alerts page: my alert e-mails (everyone), the rules (everyone reads, admins change),
webhooks (admins; a new webhook's secret is shown once) and the delivery log (operators and
admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from magflow.alerts.models import THRESHOLDS, DeliveryStatus, RuleKind
from magflow.common.schemas import IdPath
from magflow.web.client import ApiClient, ApiError
from magflow.web.session import AdminUser, Csrf, User, WebUser, api
from magflow.web.templating import render

router = APIRouter(tags=["dashboard"], include_in_schema=False)

KINDS = [
    (
        kind.value,
        kind.value.replace("_", " "),
        THRESHOLDS[kind][0] if kind in THRESHOLDS else None,
        THRESHOLDS[kind][3] if kind in THRESHOLDS else None,
    )
    for kind in RuleKind
]
STATUSES = [s.value for s in DeliveryStatus]


async def _view(
    request: Request,
    user: WebUser,
    client: ApiClient,
    message: str | None = None,
    kind: str = "ok",
    *,
    secret: dict[str, str] | None = None,
    status: str | None = None,
    template: str = "_alerts.html",
) -> Response:
    me = await client.get("/api/v1/alerts/subscription")
    rules = await client.get("/api/v1/alerts/rules")
    accounts = {a["id"]: a["name"] for a in await client.get("/api/v1/accounts")}
    webhooks = await client.get("/api/v1/alerts/webhooks") if user.is_admin else []
    deliveries = (
        await client.get("/api/v1/alerts/deliveries", params={"status": status, "limit": 50})
        if user.can_write
        else None
    )
    return render(
        request,
        template,
        user,
        me=me,
        rules=rules,
        accounts=accounts,
        webhooks=webhooks,
        deliveries=deliveries,
        kinds=KINDS,
        statuses=STATUSES,
        status=status,
        secret=secret,
        message=message,
        kind=kind,
    )


async def _send(
    request: Request, user: WebUser, method: str, path: str, body: Any, done: str
) -> Response:
    client = api(request, user)
    response = await client.call(method, path, json=body)
    if response.status_code >= 400:
        detail = response.json().get("detail") if response.content else response.reason_phrase
        return await _view(
            request, user, client, ApiError(response.status_code, detail).message, "error"
        )
    return await _view(request, user, client, done)


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(
    request: Request,
    user: User,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Response:
    client = api(request, user)
    return await _view(
        request, user, client, status=status.value if status else None, template="alerts.html"
    )


@router.post("/alerts/subscription", response_class=HTMLResponse, dependencies=[Csrf])
async def alerts_subscription(
    request: Request, user: User, email: Annotated[str, Form(max_length=5)]
) -> Response:
    on = email == "true"
    done = "Alert e-mails on." if on else "Alert e-mails off."
    return await _send(request, user, "PUT", "/api/v1/alerts/subscription", {"email": on}, done)


@router.post("/alerts/rules", response_class=HTMLResponse, dependencies=[Csrf])
async def alerts_rule_create(
    request: Request,
    user: AdminUser,
    name: Annotated[str, Form(max_length=128)],
    kind: Annotated[RuleKind, Form()],
    account: Annotated[str, Form(max_length=64)] = "",
    threshold: Annotated[str, Form(max_length=12)] = "",
    notify_email: Annotated[str, Form(max_length=5)] = "",
    webhook_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    body: dict[str, Any] = {
        "name": name,
        "kind": kind.value,
        "account": account or None,
        "notify_email": notify_email == "true",
        "webhook_ids": [w for w in webhook_ids or [] if w],
    }
    if threshold:
        body["threshold"] = threshold
    return await _send(request, user, "POST", "/api/v1/alerts/rules", body, f"Rule {name} added.")


@router.post("/alerts/rules/{rule_id}", response_class=HTMLResponse, dependencies=[Csrf])
async def alerts_rule_toggle(
    request: Request, user: AdminUser, rule_id: IdPath, enabled: Annotated[str, Form(max_length=5)]
) -> Response:
    on = enabled == "true"
    return await _send(
        request,
        user,
        "PATCH",
        f"/api/v1/alerts/rules/{rule_id}",
        {"enabled": on},
        f"Rule {rule_id} {'enabled' if on else 'disabled'}.",
    )


@router.post("/alerts/rules/{rule_id}/delete", response_class=HTMLResponse, dependencies=[Csrf])
async def alerts_rule_delete(request: Request, user: AdminUser, rule_id: IdPath) -> Response:
    return await _send(
        request, user, "DELETE", f"/api/v1/alerts/rules/{rule_id}", None, f"Rule {rule_id} deleted."
    )


@router.post("/alerts/webhooks", response_class=HTMLResponse, dependencies=[Csrf])
async def alerts_webhook_create(
    request: Request,
    user: AdminUser,
    name: Annotated[str, Form(max_length=128)],
    url: Annotated[str, Form(max_length=2048)],
) -> Response:
    client = api(request, user)
    try:
        created = await client.post("/api/v1/alerts/webhooks", json={"name": name, "url": url})
    except ApiError as exc:
        return await _view(request, user, client, exc.message, "error")
    secret = {"name": created["name"], "secret": created["secret"]}
    return await _view(request, user, client, f"Webhook {name} added.", secret=secret)


@router.post(
    "/alerts/webhooks/{webhook_id}/delete", response_class=HTMLResponse, dependencies=[Csrf]
)
async def alerts_webhook_delete(request: Request, user: AdminUser, webhook_id: IdPath) -> Response:
    return await _send(
        request,
        user,
        "DELETE",
        f"/api/v1/alerts/webhooks/{webhook_id}",
        None,
        f"Webhook {webhook_id} deleted.",
    )
