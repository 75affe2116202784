"""Who is calling, and may they? Every route but /health and login depends on these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from magflow.auth import service
from magflow.auth.models import Role, User
from magflow.auth.tokens import InvalidTokenError
from magflow.common.deps import Session, get_context, is_read_only

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


def unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"}
    )


async def current_user(
    request: Request,
    session: Session,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User:
    """The caller, checked against the database on every request. A route marked
    :func:`~magflow.common.deps.read_only` gets the user detached, read by a lean statement and
    kept per process for a second (:func:`service.user_from_token`, ``auth/readers.py``): it
    only reads it."""
    if not token:
        raise unauthorized("not authenticated: send 'Authorization: Bearer <access token>'")
    ctx = get_context(request)
    readers = ctx.readers if is_read_only(request.scope.get("endpoint")) else None
    try:
        return await service.user_from_token(session, ctx.tokens, token, "access", readers=readers)
    except InvalidTokenError as exc:
        raise unauthorized(str(exc)) from exc


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(minimum: Role) -> Callable[[User], Awaitable[User]]:
    """A dependency that lets through users whose role is ``minimum`` or higher."""

    async def check(user: CurrentUser) -> User:
        if Role(user.role).rank < minimum.rank:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this action needs the {minimum.value} role or higher; you are {user.role}",
            )
        return user

    return check


Operator = Annotated[User, Depends(require_role(Role.operator))]
Admin = Annotated[User, Depends(require_role(Role.admin))]
