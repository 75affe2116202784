"""Dashboard pages at ``/``: Jinja2 templates, htmx for partial updates, one small script.

**Sign-in.** ``POST /login`` calls the API's login (so the login throttle applies) and keeps
the access and refresh tokens in two cookies: ``HttpOnly`` (no script can read them),
``SameSite=Strict`` (never sent on a request started by another site), ``Secure`` over HTTPS,
``Path=/``. A page whose access token has expired is refreshed with the refresh cookie.
``POST /logout`` calls the API's logout, which bumps the user's ``token_version`` (every token
issued so far stops working, in every browser), then clears the cookies.

**Data.** Pages read and write through the JSON API in-process (:mod:`magflow.web.client`), with
the user's token: roles, validation and error messages are the API's. Write controls are only
rendered for operators and admins; the API refuses them to viewers anyway.

**CSRF.** The cookies are ``SameSite=Strict``, so a cross-site request carries no session. On top
of that, every state-changing route (all ``POST`` but ``/login``) requires the header
``X-MagFlow-CSRF: 1``, which htmx adds to every request (``hx-headers`` on ``<body>``) and which a
cross-site form cannot send (a cross-site script could only with a CORS preflight, which this app
does not grant to other origins with credentials). Every ``POST``, ``/login`` included, is also
refused when its ``Origin`` header names another origin.

**Live progress.** The script fetches the access token from ``GET /ws-token`` (same-origin,
needs the header too, ``Cache-Control: no-store``) and sends it as the first WebSocket message
(``{"type": "auth", ...}``) of ``/api/v1/emag/enhanced/ws/sync-progress``, so the token never
appears in a URL or an access log; on close 4401 (expired) it fetches a fresh one and reconnects
with the last event id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from magflow.auth import service as auth_service
from magflow.auth.models import Role
from magflow.auth.tokens import InvalidTokenError
from magflow.common.deps import get_context
from magflow.common.schemas import DB_INT_MAX, IdPath
from magflow.web import kpis
from magflow.web.client import ApiClient, ApiError

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")

ACCESS_COOKIE = "magflow_access"
REFRESH_COOKIE = "magflow_refresh"
CSRF_HEADER = "X-MagFlow-CSRF"
PAGE_SIZE = 25
# Page numbers whose offset fits the API's bound on ``skip`` (a larger one is a 422).
PageNumber = Annotated[int, Query(ge=1, le=DB_INT_MAX // PAGE_SIZE)]

ORDER_STATUSES = {
    0: "cancelled",
    1: "new",
    2: "in progress",
    3: "prepared",
    4: "finalized",
    5: "returned",
}
OFFER_STATUSES = {0: "inactive", 1: "active", 2: "end of life"}

router = APIRouter(tags=["dashboard"], include_in_schema=False)


# ---------------------------------------------------------------------------------------------
# Formatting


def _parse_dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def fmt_dt(value: Any) -> str:
    parsed = _parse_dt(value)
    if parsed is None:
        return "—"
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M")


def fmt_money(value: Any, currency: str | None = None) -> str:
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{amount:,.2f}"
    return f"{text} {currency}" if currency else text


def fmt_duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    total = int(float(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


templates.env.filters["dt"] = fmt_dt
templates.env.filters["money"] = fmt_money
templates.env.filters["duration"] = fmt_duration
templates.env.globals["ORDER_STATUSES"] = ORDER_STATUSES
templates.env.globals["OFFER_STATUSES"] = OFFER_STATUSES
templates.env.globals["CSRF_HEADER"] = CSRF_HEADER


# ---------------------------------------------------------------------------------------------
# Session


@dataclass(frozen=True)
class WebUser:
    id: int
    email: str
    role: str
    token: str

    @property
    def can_write(self) -> bool:
        return _rank(self.role) >= Role.operator.rank

    @property
    def is_admin(self) -> bool:
        return _rank(self.role) >= Role.admin.rank


def _rank(role: str) -> int:
    try:
        return Role(role).rank
    except ValueError:
        return 0


async def _user_for(request: Request, token: str) -> WebUser | None:
    ctx = get_context(request)
    try:
        async with ctx.db.session() as session:
            user = await auth_service.user_from_token(session, ctx.tokens, token, "access")
    except InvalidTokenError:
        return None
    return WebUser(id=user.id, email=user.email, role=user.role, token=token)


async def session_user(request: Request) -> WebUser | None:
    """The signed-in user, refreshing an expired access token with the refresh cookie."""
    cached: WebUser | None = getattr(request.state, "web_user", None)
    if cached is not None:
        return cached
    user = None
    access = request.cookies.get(ACCESS_COOKIE)
    if access:
        user = await _user_for(request, access)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if user is None and refresh:
        response = await ApiClient(request, None).call(
            "POST", "/api/v1/auth/refresh", json={"refresh_token": refresh}
        )
        if response.status_code == 200:
            pair = response.json()
            request.state.new_tokens = pair
            user = await _user_for(request, pair["access_token"])
    request.state.web_user = user
    return user


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


async def require_user(request: Request) -> WebUser:
    user = await session_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"/login?next={quote(target)}"
        if _is_htmx(request):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, headers={"HX-Redirect": login})
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": login})
    return user


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", request.url.netloc)


async def check_origin(request: Request) -> None:
    if not _same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="cross-origin request refused")


async def check_csrf(request: Request) -> None:
    """State-changing routes: same origin, and the custom header only same-origin code sends."""
    await check_origin(request)
    if request.headers.get(CSRF_HEADER) != "1":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"missing {CSRF_HEADER} header")


User = Annotated[WebUser, Depends(require_user)]


async def require_writer(user: User) -> WebUser:
    if not user.can_write:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the operator role is needed")
    return user


async def require_admin(user: User) -> WebUser:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the admin role is needed")
    return user


Writer = Annotated[WebUser, Depends(require_writer)]
AdminUser = Annotated[WebUser, Depends(require_admin)]
Csrf = Depends(check_csrf)


def _set_tokens(request: Request, response: Response, pair: dict[str, Any]) -> None:
    ctx = get_context(request)
    secure = request.url.scheme == "https"
    max_age = int(ctx.tokens.refresh_lifetime.total_seconds())
    for name, key in ((ACCESS_COOKIE, "access_token"), (REFRESH_COOKIE, "refresh_token")):
        response.set_cookie(
            name,
            pair[key],
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )


def _clear_tokens(response: Response) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(name, path="/", httponly=True, samesite="strict")


def _finish(request: Request, response: Response) -> Response:
    pair = getattr(request.state, "new_tokens", None)
    if pair:
        _set_tokens(request, response, pair)
    return response


def render(
    request: Request,
    name: str,
    user: WebUser | None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    response = templates.TemplateResponse(
        request,
        name,
        {"user": user, "nav": _nav(request, user), **context},
        status_code=status_code,
        headers=headers,
    )
    return _finish(request, response)


def _nav(request: Request, user: WebUser | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    items = [
        ("/", "Overview"),
        ("/sync", "Sync"),
        ("/offers", "Offers"),
        ("/orders", "Orders"),
        ("/customers", "Customers"),
    ]
    if user.is_admin:
        items.append(("/admin", "Accounts"))
        items.append(("/users", "Users"))
    return items


def api(request: Request, user: WebUser) -> ApiClient:
    return ApiClient(request, user.token)


def _flash(request: Request, user: WebUser, message: str, kind: str = "ok") -> Response:
    return render(request, "_flash.html", user, message=message, kind=kind)


def _qs(params: dict[str, Any], **changes: Any) -> str:
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def _pages(total: int, page: int) -> dict[str, int]:
    last = max(1, -(-total // PAGE_SIZE))
    return {"page": min(page, last), "last": last, "total": total}


async def _account_names(client: ApiClient) -> dict[int, str]:
    return {a["id"]: a["name"] for a in await client.get("/api/v1/accounts")}


# ---------------------------------------------------------------------------------------------
# Login, logout


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:
    if await session_user(request) is not None:
        return _finish(request, RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER))
    return render(request, "login.html", None, next=_safe_next(next), error=None, email="")


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(check_origin)])
async def login_submit(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    response = await ApiClient(request, None).call(
        "POST", "/api/v1/auth/login", data={"username": email, "password": password}
    )
    if response.status_code != 200:
        error = "Incorrect email or password, or the user is disabled."
        if response.status_code == 429:
            error = f"Too many failed logins; try again in {response.headers.get('Retry-After')} s."
        return render(
            request,
            "login.html",
            None,
            status_code=response.status_code,
            next=_safe_next(next),
            error=error,
            email=email,
        )
    redirect = RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)
    _set_tokens(request, redirect, response.json())
    return redirect


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request) -> Response:
    user = await session_user(request)
    if user is not None:
        await api(request, user).call("POST", "/api/v1/auth/logout")
    response: Response
    if _is_htmx(request):
        response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    else:
        response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    _clear_tokens(response)
    return response


@router.get("/ws-token", dependencies=[Csrf])
async def ws_token(request: Request, user: User) -> Response:
    """The access token for the WebSocket (the cookie is HttpOnly, so scripts cannot read it)."""
    response = JSONResponse(
        {"token": user.token, "user": user.email, "role": user.role},
        headers={"Cache-Control": "no-store"},
    )
    return _finish(request, response)


# ---------------------------------------------------------------------------------------------
# Overview


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, user: User) -> Response:
    client = api(request, user)
    accounts = await client.get("/api/v1/accounts")
    names = {a["id"]: a["name"] for a in accounts}
    last_syncs = {
        a["id"]: (await client.get("/api/v1/emag/sync-logs", {"account": a["id"], "limit": 4}))[
            "items"
        ]
        for a in accounts
    }
    ctx = get_context(request)
    async with ctx.db.session() as session:
        daily = await kpis.daily(session, 30)
    waiting = (await client.get("/api/v1/emag/orders", {"status": 1, "limit": 1}))["total"]
    out_of_stock = (await client.get("/api/v1/emag/offers", {"in_stock": "false", "limit": 1}))[
        "total"
    ]
    offers_total = (await client.get("/api/v1/emag/offers", {"limit": 1}))["total"]

    def window(days: int) -> dict[str, Any]:
        return {
            "orders": sum(daily.orders[-days:]),
            "revenue": {c: sum(v[-days:]) for c, v in daily.revenue.items() if sum(v[-days:])},
        }

    try:
        health = await client.get("/api/v1/emag/enhanced/status", {"account_type": "both"})
    except ApiError:
        health = None
    currency = daily.main_currency
    chart = {
        "labels": [d[5:] for d in daily.days],
        "orders": daily.orders,
        "revenue": daily.revenue.get(currency, []) if currency else [],
        "currency": currency or "",
    }
    return render(
        request,
        "overview.html",
        user,
        accounts=accounts,
        names=names,
        last_syncs=last_syncs,
        kpi={"today": window(1), "week": window(7), "month": window(30)},
        waiting=waiting,
        out_of_stock=out_of_stock,
        offers_total=offers_total,
        health=health,
        health_accounts=_health_by_account(health),
        chart_json=json.dumps(chart),
        names_json=json.dumps({str(k): v for k, v in names.items()}),
    )


def _health_by_account(health: Any) -> dict[str, dict[str, Any]]:
    """The status answer's per-account entries, keyed by account name (tolerant of its shape)."""
    found: dict[str, dict[str, Any]] = {}
    if not isinstance(health, dict):
        return found
    entries = health.get("accounts") or []
    if isinstance(entries, dict):
        entries = [{"name": k, **v} for k, v in entries.items() if isinstance(v, dict)]
    for entry in entries:
        if isinstance(entry, dict):
            name = entry.get("name") or entry.get("account") or entry.get("account_name")
            if name is not None:
                inner = entry.get("health")
                found[str(name)] = inner if isinstance(inner, dict) else entry
    return found


# ---------------------------------------------------------------------------------------------
# Sync


@router.get("/sync", response_class=HTMLResponse)
async def sync_page(request: Request, user: User) -> Response:
    client = api(request, user)
    accounts = await client.get("/api/v1/accounts")
    names = {a["id"]: a["name"] for a in accounts}
    history = await client.get("/api/v1/emag/sync-logs", {"limit": PAGE_SIZE})
    return render(
        request,
        "sync.html",
        user,
        accounts=accounts,
        names=names,
        names_json=json.dumps({str(k): v for k, v in names.items()}),
        history=history,
        pages=_pages(history["total"], 1),
        filters={},
        qs=_qs,
    )


@router.get("/sync/history", response_class=HTMLResponse)
async def sync_history(
    request: Request,
    user: User,
    account: str | None = None,
    kind: str | None = None,
    run_status: Annotated[str | None, Query(alias="status")] = None,
    page: PageNumber = 1,
) -> Response:
    client = api(request, user)
    filters = {"account": account, "kind": kind, "status": run_status}
    try:
        history = await client.get(
            "/api/v1/emag/sync-logs",
            {**filters, "skip": (page - 1) * PAGE_SIZE, "limit": PAGE_SIZE},
        )
    except ApiError as exc:  # an unknown account or a bad filter: say so in place of the table
        return _flash(request, user, exc.message, "error")
    return render(
        request,
        "_sync_history.html",
        user,
        names=await _account_names(client),
        history=history,
        pages=_pages(history["total"], page),
        filters=filters,
        qs=_qs,
    )


@router.post("/sync/start", response_class=HTMLResponse, dependencies=[Csrf])
async def sync_start(
    request: Request,
    user: Writer,
    kind: Annotated[str, Form(pattern="^(offers|orders)$")],
    account: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "",
) -> Response:
    body: dict[str, Any] = {"account": account or None}
    if kind == "orders" and mode in ("full", "incremental"):
        body["mode"] = mode
    response = await api(request, user).call(
        "POST", f"/api/v1/emag/enhanced/sync/{kind}", json=body
    )
    payload = response.json() if response.content else {}
    if response.status_code == 409:
        return _flash(
            request,
            user,
            f"A {kind} sync is already {payload.get('status')} (run {payload.get('run_id')}).",
            "warn",
        )
    if response.status_code >= 400:
        return _flash(request, user, ApiError(response.status_code, payload).message, "error")
    runs = payload["runs"]
    views = [
        {
            "run_id": r["id"],
            "account_id": r["account_id"],
            "kind": r["kind"],
            "mode": r["mode"],
            "status": r["status"],
            "current_page": r["current_page"],
            "total_pages": r["total_pages"],
            "processed_items": r["processed_items"],
            "total_items": r["total_items"],
            "percentage": None,
        }
        for r in runs
    ]
    ids = ", ".join(str(r["id"]) for r in runs)
    response_html = render(
        request,
        "_flash.html",
        user,
        message=f"Started the {kind} sync (run {ids}).",
        kind="ok",
        headers={"HX-Trigger": json.dumps({"magflow-runs": {"runs": views}})},
    )
    return response_html


@router.post("/sync/{run_id}/cancel", response_class=HTMLResponse, dependencies=[Csrf])
async def sync_cancel(request: Request, user: Writer, run_id: IdPath) -> Response:
    try:
        await api(request, user).post(f"/api/v1/emag/enhanced/sync/{run_id}/cancel")
    except ApiError as exc:
        return _flash(request, user, exc.message, "warn")
    return _flash(request, user, f"Cancelling run {run_id}…")


# ---------------------------------------------------------------------------------------------
# Offers


@router.get("/offers", response_class=HTMLResponse)
async def offers_page(
    request: Request,
    user: User,
    account: str | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    offer_status: Annotated[str | None, Query(alias="status")] = None,
    stock: str | None = None,
    sort: str = "id",
    order: str = "asc",
    page: PageNumber = 1,
) -> Response:
    client = api(request, user)
    filters = {
        "account": account,
        "search": search,
        "status": offer_status,
        "stock": stock,
        "sort": sort,
        "order": order,
    }
    params = {
        "account": account,
        "search": search,
        "status": offer_status,
        "in_stock": {"in": "true", "out": "false"}.get(stock or ""),
        "sort": sort,
        "order": order,
        "skip": (page - 1) * PAGE_SIZE,
        "limit": PAGE_SIZE,
    }
    accounts = await client.get("/api/v1/accounts")
    error = None
    try:
        offers = await client.get("/api/v1/emag/offers", params)
    except ApiError as exc:
        offers, error = {"total": 0, "items": []}, exc.message
    export_params = {k: v for k, v in params.items() if k not in ("skip", "limit")}
    template = "_offers_table.html" if _is_htmx(request) else "offers.html"
    return render(
        request,
        template,
        user,
        accounts=accounts,
        names={a["id"]: a["name"] for a in accounts},
        offers=offers,
        filters=filters,
        pages=_pages(offers["total"], page),
        error=error,
        qs=_qs,
        export_qs=_qs(export_params),
    )


@router.post("/offers/bulk", response_class=HTMLResponse, dependencies=[Csrf])
async def offers_bulk(
    request: Request,
    user: Writer,
    field: Annotated[str, Form(pattern="^(sale_price|stock)$")],
    value: Annotated[str, Form(max_length=32)],
    selected: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Selected offers (``<account id>:<emag id>``) get one new price or stock, in one bulk job."""
    if not selected:
        return _flash(request, user, "Select at least one offer.", "warn")
    items = []
    for key in selected:
        account_id, _, emag_id = key.partition(":")
        items.append({"account": account_id, "offer_id": emag_id, field: value.strip()})
    try:
        op = await api(request, user).post("/api/v1/emag/bulk/offers", json={"items": items})
    except ApiError as exc:
        return _flash(request, user, exc.message, "error")
    return await _bulk_view(request, user, op)


async def _bulk_view(request: Request, user: WebUser, op: dict[str, Any]) -> Response:
    items = await api(request, user).get(
        f"/api/v1/emag/bulk/operations/{op['id']}/items", {"limit": 200}
    )
    finished = op["status"] not in ("queued", "running")
    return render(request, "_bulk_result.html", user, op=op, items=items, finished=finished)


@router.get("/offers/bulk/{operation_id}", response_class=HTMLResponse)
async def offers_bulk_status(request: Request, user: User, operation_id: IdPath) -> Response:
    try:
        op = await api(request, user).get(f"/api/v1/emag/bulk/operations/{operation_id}")
    except ApiError as exc:
        return _flash(request, user, exc.message, "error")
    return await _bulk_view(request, user, op)


async def _export(request: Request, user: WebUser, path: str) -> Response:
    response = await api(request, user).call("GET", path, params=list(request.query_params.items()))
    if response.status_code >= 400:
        raise HTTPException(response.status_code, detail=ApiError(response.status_code, "").message)
    headers = {
        k: v
        for k, v in response.headers.items()
        if k.lower() in ("content-type", "content-disposition")
    }
    return Response(response.content, headers=headers)


@router.get("/offers/export")
async def offers_export(request: Request, user: User) -> Response:
    return await _export(request, user, "/api/v1/emag/offers/export")


# ---------------------------------------------------------------------------------------------
# Orders


def _date_bound(value: str | None) -> str | None:
    """The form's day as a plain date: the API reads it in the accounts' platform time zone,
    and a plain ``date_to`` includes that whole day (magflow.common.dates)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def _order_params(
    account: str | None,
    order_status: str | None,
    search: str | None,
    date_from: str | None,
    date_to: str | None,
) -> dict[str, Any]:
    return {
        "account": account,
        "status": order_status,
        "search": search,
        "date_from": _date_bound(date_from),
        "date_to": _date_bound(date_to),
    }


@router.get("/orders", response_class=HTMLResponse)
async def orders_page(
    request: Request,
    user: User,
    account: str | None = None,
    order_status: Annotated[str | None, Query(alias="status")] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    date_from: str | None = None,
    date_to: str | None = None,
    page: PageNumber = 1,
) -> Response:
    client = api(request, user)
    filters = {
        "account": account,
        "status": order_status,
        "search": search,
        "date_from": date_from,
        "date_to": date_to,
    }
    params = _order_params(account, order_status, search, date_from, date_to)
    accounts = await client.get("/api/v1/accounts")
    error = None
    try:
        orders = await client.get(
            "/api/v1/emag/orders",
            {**params, "skip": (page - 1) * PAGE_SIZE, "limit": PAGE_SIZE},
        )
    except ApiError as exc:
        orders, error = {"total": 0, "items": []}, exc.message
    template = "_orders_table.html" if _is_htmx(request) else "orders.html"
    return render(
        request,
        template,
        user,
        accounts=accounts,
        names={a["id"]: a["name"] for a in accounts},
        orders=orders,
        filters=filters,
        pages=_pages(orders["total"], page),
        error=error,
        qs=_qs,
        export_qs=_qs(params),
    )


@router.get("/orders/export")
async def orders_export(request: Request, user: User) -> Response:
    return await _export(request, user, "/api/v1/emag/orders/export")


@router.post("/orders/acknowledge", response_class=HTMLResponse, dependencies=[Csrf])
async def orders_acknowledge(
    request: Request, user: Writer, selected: Annotated[list[int] | None, Form()] = None
) -> Response:
    if not selected:
        return _flash(request, user, "Select at least one new order.", "warn")
    try:
        outcomes = await api(request, user).post(
            "/api/v1/emag/orders/acknowledge", json={"ids": selected}
        )
    except ApiError as exc:
        return _flash(request, user, exc.message, "error")
    return render(
        request,
        "_ack_result.html",
        user,
        outcomes=outcomes,
        headers={"HX-Trigger": "orders-changed"},
    )


async def _order_detail(
    request: Request,
    user: WebUser,
    order: dict[str, Any],
    message: str | None,
    kind: str,
    awb: dict[str, Any] | None = None,
) -> Response:
    client = api(request, user)
    names = await _account_names(client)
    template = "_order_detail.html" if _is_htmx(request) else "order.html"
    return render(
        request,
        template,
        user,
        order=order,
        names=names,
        message=message,
        kind=kind,
        can_awb=order.get("order_type") != 2 and order.get("status") in (2, 3, 4),
        awb=awb,
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(request: Request, user: User, order_id: IdPath) -> Response:
    try:
        order = await api(request, user).get(f"/api/v1/emag/orders/{order_id}")
    except ApiError as exc:
        raise HTTPException(exc.status_code, detail=exc.message) from exc
    return await _order_detail(request, user, order, None, "ok")


async def _order_action(
    request: Request, user: WebUser, order_id: int, action: str, body: Any, done: str
) -> Response:
    client = api(request, user)
    try:
        result = await client.post(f"/api/v1/emag/orders/{order_id}/{action}", json=body)
    except ApiError as exc:
        try:
            order = await client.get(f"/api/v1/emag/orders/{order_id}")
        except ApiError:  # no such order (any more): the message alone
            return _flash(request, user, exc.message, "error")
        return await _order_detail(request, user, order, exc.message, "error")
    messages = "; ".join(result.get("emag_messages") or [])
    return await _order_detail(
        request, user, result["order"], done + (f" eMAG: {messages}" if messages else ""), "ok"
    )


@router.post("/orders/{order_id}/acknowledge", response_class=HTMLResponse, dependencies=[Csrf])
async def order_acknowledge(request: Request, user: Writer, order_id: IdPath) -> Response:
    return await _order_action(request, user, order_id, "acknowledge", None, "Acknowledged.")


@router.post("/orders/{order_id}/status", response_class=HTMLResponse, dependencies=[Csrf])
async def order_status(
    request: Request,
    user: Writer,
    order_id: IdPath,
    new_status: Annotated[int, Form(alias="status")],
    reason: Annotated[str, Form()] = "",
) -> Response:
    body: dict[str, Any] = {"status": new_status}
    if reason.strip().isascii() and reason.strip().isdigit():
        body["reason"] = int(reason)
    label = ORDER_STATUSES.get(new_status, str(new_status))
    return await _order_action(request, user, order_id, "status", body, f"Status set to {label}.")


@router.post("/orders/{order_id}/invoice", response_class=HTMLResponse, dependencies=[Csrf])
async def order_invoice(
    request: Request,
    user: Writer,
    order_id: IdPath,
    url: Annotated[str, Form(max_length=1024)],
    name: Annotated[str, Form(max_length=60)] = "Invoice",
) -> Response:
    body = {"url": url, "name": name, "type": "invoice"}
    return await _order_action(request, user, order_id, "attachments", body, "Invoice attached.")


# ---------------------------------------------------------------------------------------------
# Customers (shown when the analytics API exists)


@router.get("/customers", response_class=HTMLResponse)
async def customers_page(
    request: Request,
    user: User,
    search: Annotated[str | None, Query(max_length=200)] = None,
    tier: str | None = None,
    risk: str | None = None,
    channel: str | None = None,
    sort: str = "spend",
    page: PageNumber = 1,
) -> Response:
    filters = {"search": search, "tier": tier, "risk": risk, "channel": channel, "sort": sort}
    error = None
    try:
        data = await api(request, user).get(
            "/api/v1/admin/emag-customers",
            {**filters, "skip": (page - 1) * PAGE_SIZE, "limit": PAGE_SIZE},
        )
    except ApiError as exc:
        data, error = {"total": 0, "items": [], "summary": None}, exc.message
    summary = data.get("summary") or {}
    charts = {
        "tiers": summary.get("tier_distribution") or {},
        "channels": summary.get("channel_distribution") or {},
    }
    template = "_customers_table.html" if _is_htmx(request) else "customers.html"
    return render(
        request,
        template,
        user,
        customers=data,
        summary=summary,
        filters=filters,
        pages=_pages(data["total"], page),
        error=error,
        qs=_qs,
        charts_json=json.dumps(charts),
        has_export=user.is_admin,
        export_qs=_qs(filters),  # the export takes the listing's filters and order
    )


@router.get("/customers/export")
async def customers_export(request: Request, user: User) -> Response:
    return await _export(request, user, "/api/v1/admin/emag-customers/export")


# ---------------------------------------------------------------------------------------------
# Accounts (admins)


@router.get("/admin", response_class=HTMLResponse)
async def admin_page(request: Request, user: AdminUser) -> Response:
    accounts = await api(request, user).get("/api/v1/accounts")
    return render(request, "admin.html", user, accounts=accounts, message=None, kind="ok")


@router.post("/admin/accounts", response_class=HTMLResponse, dependencies=[Csrf])
async def admin_add_account(
    request: Request,
    user: AdminUser,
    name: Annotated[str, Form()],
    platform: Annotated[str, Form()],
    account_type: Annotated[str, Form()],
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    base_url: Annotated[str, Form()] = "",
) -> Response:
    client = api(request, user)
    body = {
        "name": name,
        "platform": platform,
        "account_type": account_type,
        "username": username,
        "password": password,
        "base_url": base_url or None,
    }
    message, kind = f"Account {name} added.", "ok"
    try:
        await client.post("/api/v1/accounts", json=body)
    except ApiError as exc:
        message, kind = exc.message, "error"
    accounts = await client.get("/api/v1/accounts")
    return render(request, "_accounts.html", user, accounts=accounts, message=message, kind=kind)


@router.post("/admin/accounts/{name}/delete", response_class=HTMLResponse, dependencies=[Csrf])
async def admin_remove_account(request: Request, user: AdminUser, name: str) -> Response:
    client = api(request, user)
    response = await client.call("DELETE", f"/api/v1/accounts/{quote(name)}")
    message, kind = f"Account {name} removed.", "ok"
    if response.status_code >= 400:
        message, kind = (
            ApiError(response.status_code, response.json().get("detail")).message,
            "error",
        )
    accounts = await client.get("/api/v1/accounts")
    return render(request, "_accounts.html", user, accounts=accounts, message=message, kind=kind)


@router.get("/orders/{order_id}/couriers", response_class=HTMLResponse)
async def order_couriers(request: Request, user: Writer, order_id: IdPath) -> Response:
    """The options of the AWB form's courier select: the order's account's courier accounts."""
    client = api(request, user)
    couriers: list[dict[str, Any]] = []
    error = None
    try:
        order = await client.get(f"/api/v1/emag/orders/{order_id}")
        couriers = await client.get(
            "/api/v1/emag/courier-accounts", {"account": str(order["account_id"])}
        )
    except ApiError as exc:
        error = exc.message
    return render(request, "_courier_options.html", user, couriers=couriers, error=error)


@router.post("/orders/{order_id}/awb", response_class=HTMLResponse, dependencies=[Csrf])
async def order_awb(
    request: Request,
    user: Writer,
    order_id: IdPath,
    sender_name: Annotated[str, Form(max_length=255)],
    sender_contact: Annotated[str, Form(max_length=255)],
    sender_phone: Annotated[str, Form(max_length=20)],
    sender_locality_id: Annotated[str, Form(max_length=12)],
    sender_street: Annotated[str, Form(max_length=255)],
    sender_zipcode: Annotated[str, Form(max_length=12)] = "",
    courier_account_id: Annotated[str, Form(max_length=12)] = "",
    parcel_number: Annotated[str, Form(max_length=4)] = "1",
    envelope_number: Annotated[str, Form(max_length=5)] = "0",
    weight: Annotated[str, Form(max_length=12)] = "",
    observation: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """Create an AWB through ``POST /api/v1/emag/orders/{id}/awb``; eMAG's refusal is shown."""
    sender: dict[str, Any] = {
        "name": sender_name,
        "contact": sender_contact,
        "phone1": sender_phone.strip(),
        "street": sender_street,
        "zipcode": sender_zipcode or None,
        "locality_id": sender_locality_id.strip() or None,
    }
    body: dict[str, Any] = {
        "sender": sender,
        "parcel_number": parcel_number.strip() or "0",
        "envelope_number": envelope_number.strip() or "0",
        "courier_account_id": courier_account_id.strip() or None,
        "weight": weight.strip() or None,
        "observation": observation.strip() or None,
    }
    client = api(request, user)
    try:
        result = await client.post(f"/api/v1/emag/orders/{order_id}/awb", json=body)
    except ApiError as exc:
        try:
            order = await client.get(f"/api/v1/emag/orders/{order_id}")
        except ApiError:  # no such order (any more): the message alone
            return _flash(request, user, f"AWB refused: {exc.message}", "error")
        return await _order_detail(request, user, order, f"AWB refused: {exc.message}", "error")
    awb = result.get("awb") or {}
    number = awb.get("awb_number") or "(no number returned)"
    messages = "; ".join(result.get("emag_messages") or [])
    return await _order_detail(
        request,
        user,
        result["order"],
        f"AWB {number} created." + (f" eMAG: {messages}" if messages else ""),
        "ok",
        awb=awb,
    )


# ---------------------------------------------------------------------------------------------
# Users (admins)

ROLES = [r.value for r in Role]


async def _users_view(
    request: Request,
    user: WebUser,
    client: ApiClient,
    message: str | None,
    kind: str,
    generated: dict[str, str] | None = None,
    template: str = "_users.html",
) -> Response:
    users = await client.get("/api/v1/users")
    return render(
        request,
        template,
        user,
        users=users,
        roles=ROLES,
        message=message,
        kind=kind,
        generated=generated,
    )


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, user: AdminUser) -> Response:
    return await _users_view(request, user, api(request, user), None, "ok", template="users.html")


@router.post("/users", response_class=HTMLResponse, dependencies=[Csrf])
async def users_create(
    request: Request,
    user: AdminUser,
    email: Annotated[str, Form(max_length=320)],
    role: Annotated[str, Form(max_length=16)] = "viewer",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    client = api(request, user)
    body: dict[str, Any] = {"email": email, "role": role}
    if password:
        body["password"] = password
    generated = None
    try:
        created = await client.post("/api/v1/users", json=body)
    except ApiError as exc:
        return await _users_view(request, user, client, exc.message, "error")
    if created.get("generated_password"):
        generated = {"email": created["email"], "password": created["generated_password"]}
    return await _users_view(
        request, user, client, f"User {created['email']} created.", "ok", generated
    )


@router.post("/users/{user_id}", response_class=HTMLResponse, dependencies=[Csrf])
async def users_update(
    request: Request,
    user: AdminUser,
    user_id: IdPath,
    role: Annotated[str, Form(max_length=16)] = "",
    is_active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    client = api(request, user)
    body: dict[str, Any] = {}
    if role:
        body["role"] = role
    if is_active:
        body["is_active"] = is_active == "true"
    response = await client.call("PATCH", f"/api/v1/users/{user_id}", json=body)
    if response.status_code >= 400:
        message = ApiError(response.status_code, response.json().get("detail")).message
        return await _users_view(request, user, client, message, "error")
    changed = response.json()
    state = "enabled" if changed["is_active"] else "disabled"
    return await _users_view(
        request, user, client, f"{changed['email']}: {changed['role']}, {state}.", "ok"
    )
