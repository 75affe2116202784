"""Sign-in state of the dashboard: token cookies, the current user, CSRF and origin checks.

**Sign-in.** ``POST /login`` calls the API's login (so the login throttle applies) and keeps
the access and refresh tokens in two cookies: ``HttpOnly`` (no script can read them),
``SameSite=Strict`` (never sent on a request started by another site), ``Secure`` over HTTPS,
``Path=/``. A page whose access token has expired is refreshed with the refresh cookie.
``POST /logout`` calls the API's logout, which bumps the user's ``token_version`` (every token
issued so far stops working, in every browser), then clears the cookies.

**CSRF.** The cookies are ``SameSite=Strict``, so a cross-site request carries no session. On top
of that, every state-changing route (all ``POST`` but ``/login``) requires the header
``X-MagFlow-CSRF: 1``, which htmx adds to every request (``hx-headers`` on ``<body>``) and which a
cross-site form cannot send (a cross-site script could only with a CORS preflight, which this app
does not grant to other origins with credentials). Every ``POST``, ``/login`` included, is also
refused when its ``Origin`` header names another origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import Response

from magflow.auth import service as auth_service
from magflow.auth.models import Role
from magflow.auth.tokens import InvalidTokenError
from magflow.common.deps import get_context
from magflow.web.client import ApiClient

ACCESS_COOKIE = "magflow_access"
REFRESH_COOKIE = "magflow_refresh"
CSRF_HEADER = "X-MagFlow-CSRF"


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
    """The user an access token names, checked by the auth service as the API checks it
    (signature, expiry, ``token_version``, active user)."""
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


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


async def require_user(request: Request) -> WebUser:
    user = await session_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"/login?next={quote(target)}"
        if is_htmx(request):
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


def set_tokens(request: Request, response: Response, pair: dict[str, Any]) -> None:
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


def clear_tokens(response: Response) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(name, path="/", httponly=True, samesite="strict")


def finish(request: Request, response: Response) -> Response:
    """``response`` with the cookies of tokens refreshed during this request, if any."""
    pair = getattr(request.state, "new_tokens", None)
    if pair:
        set_tokens(request, response, pair)
    return response


def api(request: Request, user: WebUser) -> ApiClient:
    """The JSON API in-process, as ``user``."""
    return ApiClient(request, user.token)
