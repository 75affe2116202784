"""The eMAG accounts page (admins): add and remove accounts."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from magflow.web.client import ApiError
from magflow.web.session import AdminUser, Csrf, api
from magflow.web.templating import render

router = APIRouter(tags=["dashboard"], include_in_schema=False)


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


# -- intake (magflow.intake): auto-acknowledge and eMAG callback URLs ----------------------------


@router.post(
    "/admin/accounts/{name}/auto-acknowledge", response_class=HTMLResponse, dependencies=[Csrf]
)
async def admin_auto_acknowledge(
    request: Request, user: AdminUser, name: str, enabled: Annotated[bool, Form()]
) -> Response:
    client = api(request, user)
    response = await client.call(
        "PATCH", f"/api/v1/accounts/{quote(name)}", json={"auto_acknowledge": enabled}
    )
    message, kind = f"Auto-acknowledge of {name} turned {'on' if enabled else 'off'}.", "ok"
    if response.status_code >= 400:
        message, kind = (
            ApiError(response.status_code, response.json().get("detail")).message,
            "error",
        )
    accounts = await client.get("/api/v1/accounts")
    return render(request, "_accounts.html", user, accounts=accounts, message=message, kind=kind)


async def _callbacks(request: Request, user: Any, method: str, path: str) -> Response:
    response = await api(request, user).call(method, path)
    if response.status_code >= 400:
        message = ApiError(response.status_code, response.json().get("detail")).message
        return render(
            request, "_callback_urls.html", user, urls=None, message=message, kind="error"
        )
    note = "New secret: paste these URLs in eMAG." if method == "POST" else None
    return render(
        request, "_callback_urls.html", user, urls=response.json(), message=note, kind="ok"
    )


@router.get("/admin/accounts/{name}/callbacks", response_class=HTMLResponse)
async def admin_callback_urls(request: Request, user: AdminUser, name: str) -> Response:
    return await _callbacks(request, user, "GET", f"/api/v1/accounts/{quote(name)}/callbacks")


@router.post(
    "/admin/accounts/{name}/callbacks/rotate", response_class=HTMLResponse, dependencies=[Csrf]
)
async def admin_rotate_callbacks(request: Request, user: AdminUser, name: str) -> Response:
    path = f"/api/v1/accounts/{quote(name)}/callbacks/rotate"
    return await _callbacks(request, user, "POST", path)
