"""The eMAG accounts page (admins): add and remove accounts, set an account's warehouse."""

from __future__ import annotations

from typing import Annotated
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
    warehouse_id: Annotated[str, Form()] = "1",
) -> Response:
    client = api(request, user)
    body = {
        "name": name,
        "platform": platform,
        "account_type": account_type,
        "username": username,
        "password": password,
        "base_url": base_url or None,
        "warehouse_id": warehouse_id or "1",  # validated by the API
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


# -- warehouse (issue 13, point 9) -----------------------------------------------------------------


@router.post("/admin/accounts/{name}/warehouse", response_class=HTMLResponse, dependencies=[Csrf])
async def admin_set_warehouse(
    request: Request, user: AdminUser, name: str, warehouse_id: Annotated[str, Form()]
) -> Response:
    """The eMAG warehouse that the account's stock is written to (``PUT
    /api/v1/accounts/{name}/warehouse``)."""
    client = api(request, user)
    message, kind = f"Account {name}: stock goes to warehouse {warehouse_id}.", "ok"
    response = await client.call(
        "PUT", f"/api/v1/accounts/{quote(name)}/warehouse", json={"warehouse_id": warehouse_id}
    )
    if response.status_code >= 400:
        message, kind = (
            ApiError(response.status_code, response.json().get("detail")).message,
            "error",
        )
    accounts = await client.get("/api/v1/accounts")
    return render(request, "_accounts.html", user, accounts=accounts, message=message, kind=kind)
