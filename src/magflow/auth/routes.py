from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from magflow.auth import service
from magflow.auth.dependencies import CurrentUser, unauthorized
from magflow.auth.gate import LoginBusyError
from magflow.auth.models import User
from magflow.auth.schemas import (
    MAX_PASSWORD_LENGTH,
    PasswordChange,
    RefreshRequest,
    TokenPair,
    UserOut,
)
from magflow.auth.throttle import MAX_EMAIL_LENGTH, throttle_key
from magflow.auth.tokens import InvalidTokenError
from magflow.common.deps import Context, Session

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

UNPROCESSABLE = 422


def _pair(ctx: Context, user_tokens: tuple[str, str]) -> TokenPair:
    access, refresh = user_tokens
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(ctx.tokens.access_lifetime.total_seconds()),
    )


def _too_many(message: str, retry_after: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=message,
        headers={"Retry-After": str(retry_after)},
    )


@router.post(
    "/login",
    response_model=TokenPair,
    responses={
        401: {"description": "Wrong credentials"},
        422: {"description": "Username longer than an email address can be"},
        429: {"description": "Locked out, or too many logins at once (see Retry-After)"},
    },
)
async def login(
    request: Request, ctx: Context, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenPair:
    """OAuth2 password flow: ``username`` is the email. Returns an access and a refresh token.

    The attempt is counted (per email and client address) before the password is verified; the
    verification runs in a thread, with no database session open (see auth/gate.py)."""
    email = service.normalize_email(form.username)
    if len(email) > MAX_EMAIL_LENGTH or len(form.password) > MAX_PASSWORD_LENGTH:
        raise HTTPException(
            UNPROCESSABLE,
            detail=f"username is at most {MAX_EMAIL_LENGTH} characters (an email address) "
            f"and password at most {MAX_PASSWORD_LENGTH}",
        )
    gate = ctx.login_gate
    try:
        gate.enter()
    except LoginBusyError as exc:
        raise _too_many(str(exc), exc.retry_after) from exc
    key = throttle_key(email, request.client.host if request.client else None)
    try:
        wait = await ctx.throttle.acquire(key)
        if wait is not None:
            raise _too_many(f"too many failed logins; try again in {wait} s", wait)
        async with ctx.db.session() as session:
            candidate = await service.login_candidate(session, email)
        valid = await gate.verify(candidate.password_hash, form.password)
    finally:
        gate.leave()
    if not valid or not candidate.is_active or candidate.user_id is None:
        raise unauthorized("incorrect email or password, or the user is disabled")
    await ctx.throttle.reset(key)
    async with ctx.db.session() as session:
        try:
            user = await service.complete_login(session, candidate.user_id)
        except service.AuthError as exc:
            raise unauthorized(str(exc)) from exc
        pair = await service.issue_pair(session, ctx.tokens, user)
        await session.commit()
    return _pair(ctx, pair)


@router.post("/refresh", response_model=TokenPair, responses={401: {"description": "Bad token"}})
async def refresh(ctx: Context, session: Session, body: RefreshRequest) -> TokenPair:
    """A new pair for a refresh token, which is spent: each one works once. Presenting a spent
    one again revokes every token descending from the same login."""
    try:
        pair = await service.rotate_refresh(session, ctx.tokens, body.refresh_token)
    except service.RefreshReuseError as exc:
        await session.commit()  # the family's revocation
        raise unauthorized(str(exc)) from exc
    except InvalidTokenError as exc:
        raise unauthorized(str(exc)) from exc
    await session.commit()
    return _pair(ctx, pair)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(session: Session, user: CurrentUser) -> None:
    """Revokes every refresh and access token issued to this user so far."""
    user.token_version += 1
    await session.commit()


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        401: {"description": "Wrong current password"},
        422: {"description": "Weak password"},
        429: {"description": "Too many attempts"},
    },
)
async def change_password(
    request: Request, ctx: Context, session: Session, user: CurrentUser, body: PasswordChange
) -> None:
    """Change your own password (the current one is required). Every token issued so far,
    this one included, is revoked: log in again."""
    key = throttle_key(user.email, request.client.host if request.client else None)
    wait = await ctx.throttle.acquire(key)
    if wait is not None:
        raise _too_many(f"too many failed attempts; try again in {wait} s", wait)
    try:
        ctx.login_gate.enter()
    except LoginBusyError as exc:
        raise _too_many(str(exc), exc.retry_after) from exc
    try:
        await service.change_own_password(
            session, ctx.login_gate, user, body.current_password, body.new_password
        )
    except service.AuthError as exc:
        raise unauthorized(str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(UNPROCESSABLE, detail=str(exc)) from exc
    finally:
        ctx.login_gate.leave()
    await ctx.throttle.reset(key)
    await session.commit()


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> User:
    return user
