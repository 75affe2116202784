"""The eMAG accounts page (admins): add and remove accounts, set an account's warehouse, and
each account's AWB sender defaults (``PATCH /api/v1/accounts/{name}``), with the account's saved
eMAG addresses to choose from (``GET /api/v1/accounts/{name}/addresses``)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from magflow.web.client import ApiClient, ApiError
from magflow.web.session import AdminUser, Csrf, WebUser, api
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
    message = f"Account {name} removed."
    return await _accounts_table(request, user, client, response, message, "")


# -- AWB sender defaults ---------------------------------------------------------------------------

#: ``addresses/read`` ``address_type_id`` (docs/emag-protocol.md, "AWBs and couriers").
ADDRESS_TYPES = {1: "return", 2: "pickup", 3: "invoicing / headquarters", 4: "delivery estimates"}


@router.get("/admin/accounts/{name}/addresses", response_class=HTMLResponse)
async def admin_account_addresses(
    request: Request, user: AdminUser, name: str, current: str = ""
) -> Response:
    """The ``address_id`` select of the sender form: the account's saved eMAG addresses."""
    addresses: list[dict[str, Any]] = []
    error = None
    try:
        addresses = await api(request, user).get(f"/api/v1/accounts/{quote(name)}/addresses")
    except ApiError as exc:
        error = exc.message
    return render(
        request,
        "_address_options.html",
        user,
        addresses=addresses,
        types=ADDRESS_TYPES,
        current=current,
        error=error,
    )


@router.post("/admin/accounts/{name}/sender", response_class=HTMLResponse, dependencies=[Csrf])
async def admin_account_sender(
    request: Request,
    user: AdminUser,
    name: str,
    sender_name: Annotated[str, Form(max_length=255)] = "",
    contact: Annotated[str, Form(max_length=255)] = "",
    phone1: Annotated[str, Form(max_length=32)] = "",
    phone2: Annotated[str, Form(max_length=32)] = "",
    address_id: Annotated[str, Form(max_length=21)] = "",
    locality_id: Annotated[str, Form(max_length=12)] = "",
    street: Annotated[str, Form(max_length=255)] = "",
    zipcode: Annotated[str, Form(max_length=16)] = "",
    clear: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Save (or, with ``clear``, remove) the account's AWB sender defaults; the API validates
    them (an eMAG address or a full address, phones eMAG accepts) and its message is shown."""
    client = api(request, user)
    fields = {
        "name": sender_name,
        "contact": contact,
        "phone1": phone1,
        "phone2": phone2,
        "address_id": address_id,
        "locality_id": locality_id,
        "street": street,
        "zipcode": zipcode,
    }
    sender = None if clear else {k: v.strip() for k, v in fields.items() if v.strip()} or None
    response = await client.call(
        "PATCH", f"/api/v1/accounts/{quote(name)}", json={"awb_sender": sender}
    )
    message = f"AWB sender of {name} {'removed' if sender is None else 'saved'}."
    return await _accounts_table(
        request, user, client, response, message, f"AWB sender of {name} not saved: "
    )


# -- end AWB sender defaults -----------------------------------------------------------------------


# -- warehouse (issue 13, point 9) -----------------------------------------------------------------


@router.post("/admin/accounts/{name}/warehouse", response_class=HTMLResponse, dependencies=[Csrf])
async def admin_set_warehouse(
    request: Request, user: AdminUser, name: str, warehouse_id: Annotated[str, Form()]
) -> Response:
    """The eMAG warehouse that the account's stock is written to (``PUT
    /api/v1/accounts/{name}/warehouse``)."""
    client = api(request, user)
    message = f"Account {name}: stock goes to warehouse {warehouse_id}."
    response = await client.call(
        "PUT", f"/api/v1/accounts/{quote(name)}/warehouse", json={"warehouse_id": warehouse_id}
    )
    return await _accounts_table(request, user, client, response, message, "")


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
    message = f"Auto-acknowledge of {name} turned {'on' if enabled else 'off'}."
    return await _accounts_table(request, user, client, response, message, "")


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


async def _accounts_table(
    request: Request,
    user: WebUser,
    client: ApiClient,
    response: httpx.Response,
    done: str,
    failed: str,
) -> Response:
    """The accounts table after a write: ``done`` when the API took it, else ``failed`` followed
    by the API's own message."""
    message, kind = done, "ok"
    if response.status_code >= 400:
        detail = ApiError(response.status_code, response.json().get("detail")).message
        message, kind = failed + detail, "error"
    accounts = await client.get("/api/v1/accounts")
    return render(request, "_accounts.html", user, accounts=accounts, message=message, kind=kind)
