"""The users page (admins): create users, change roles, disable and enable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from magflow.auth.models import Role
from magflow.common.schemas import IdPath
from magflow.web.client import ApiClient, ApiError
from magflow.web.session import AdminUser, Csrf, WebUser, api
from magflow.web.templating import render

router = APIRouter(tags=["dashboard"], include_in_schema=False)

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
