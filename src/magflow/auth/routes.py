from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from magflow.auth import service
from magflow.auth.dependencies import CurrentUser, unauthorized
from magflow.auth.models import User
from magflow.auth.schemas import RefreshRequest, TokenPair, UserOut
from magflow.auth.tokens import InvalidTokenError
from magflow.common.deps import Context, Session

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _pair(ctx: Context, user_tokens: tuple[str, str]) -> TokenPair:
    access, refresh = user_tokens
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(ctx.tokens.access_lifetime.total_seconds()),
    )


@router.post(
    "/login",
    response_model=TokenPair,
    responses={401: {"description": "Wrong credentials"}, 429: {"description": "Locked out"}},
)
async def login(
    ctx: Context, session: Session, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenPair:
    """OAuth2 password flow: ``username`` is the email. Returns an access and a refresh token."""
    try:
        user = await service.authenticate(session, ctx.throttle, form.username, form.password)
    except service.LoginLockedError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=str(exc),
            headers={"Retry-After": str(exc.retry_after)},
        ) from exc
    except service.AuthError as exc:
        raise unauthorized(str(exc)) from exc
    pair = service.issue_pair(ctx.tokens, user)
    await session.commit()
    return _pair(ctx, pair)


@router.post("/refresh", response_model=TokenPair, responses={401: {"description": "Bad token"}})
async def refresh(ctx: Context, session: Session, body: RefreshRequest) -> TokenPair:
    try:
        user = await service.user_from_token(session, ctx.tokens, body.refresh_token, "refresh")
    except InvalidTokenError as exc:
        raise unauthorized(str(exc)) from exc
    return _pair(ctx, service.issue_pair(ctx.tokens, user))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(session: Session, user: CurrentUser) -> None:
    """Revokes every refresh and access token issued to this user so far."""
    user.token_version += 1
    await session.commit()


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> User:
    return user
