"""Sign in and out, and the WebSocket token (see :mod:`magflow.web.session`).

**Live progress.** The script fetches the access token from ``GET /ws-token`` (same-origin,
needs the CSRF header too, ``Cache-Control: no-store``) and sends it as the first WebSocket message
(``{"type": "auth", ...}``) of ``/api/v1/emag/enhanced/ws/sync-progress``, so the token never
appears in a URL or an access log; on close 4401 (expired) it fetches a fresh one and reconnects
with the last event id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from magflow.web.client import ApiClient
from magflow.web.session import (
    Csrf,
    User,
    api,
    check_origin,
    clear_tokens,
    finish,
    is_htmx,
    session_user,
    set_tokens,
)
from magflow.web.templating import render

router = APIRouter(tags=["dashboard"], include_in_schema=False)


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:
    if await session_user(request) is not None:
        return finish(request, RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER))
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
    set_tokens(request, redirect, response.json())
    return redirect


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request) -> Response:
    user = await session_user(request)
    if user is not None:
        await api(request, user).call("POST", "/api/v1/auth/logout")
    response: Response
    if is_htmx(request):
        response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    else:
        response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    clear_tokens(response)
    return response


@router.get("/ws-token", dependencies=[Csrf])
async def ws_token(request: Request, user: User) -> Response:
    """The access token for the WebSocket (the cookie is HttpOnly, so scripts cannot read it)."""
    response = JSONResponse(
        {"token": user.token, "user": user.email, "role": user.role},
        headers={"Cache-Control": "no-store"},
    )
    return finish(request, response)
