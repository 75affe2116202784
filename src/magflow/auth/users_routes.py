"""Users admin (``/api/v1/users``): list, create, change role, enable/disable. Admins only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from magflow.auth import service
from magflow.auth.dependencies import Admin
from magflow.auth.schemas import (
    PasswordReset,
    PasswordResetDone,
    UnlockDone,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)
from magflow.common.deps import Context, Session
from magflow.common.errors import UNPROCESSABLE
from magflow.common.schemas import IdPath

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("", response_model=list[UserOut])
async def list_users(session: Session, admin: Admin) -> Any:
    return await service.list_users(session)


@router.post(
    "",
    response_model=UserCreated,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "Email already used"}},
)
async def create_user(session: Session, admin: Admin, body: UserCreate) -> Any:
    """Create a user. Without ``password`` one is generated and returned once, here."""
    try:
        user, generated = await service.create_user_with_password(
            session, body.email, body.role, body.password
        )
    except service.UserExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(UNPROCESSABLE, detail=str(exc)) from exc
    await session.commit()
    out = UserCreated.model_validate(user)
    out.generated_password = generated
    return out


@router.patch(
    "/{user_id}",
    response_model=UserOut,
    responses={404: {"description": "No such user"}, 409: {"description": "Self-lockout"}},
)
async def update_user(session: Session, admin: Admin, user_id: IdPath, body: UserUpdate) -> Any:
    """Change role and/or active flag; either change revokes the user's current tokens."""
    try:
        user = await service.update_user(
            session, admin, user_id, role=body.role, is_active=body.is_active
        )
    except service.SelfLockoutError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    await session.commit()
    return user


@router.post(
    "/{user_id}/password",
    response_model=PasswordResetDone,
    responses={404: {"description": "No such user"}, 422: {"description": "Weak password"}},
)
async def reset_password(
    session: Session, admin: Admin, user_id: IdPath, body: PasswordReset
) -> Any:
    """Set a user's password (or generate one, returned once, here); revokes their tokens."""
    try:
        _, generated = await service.reset_password(session, user_id, body.password)
    except ValueError as exc:
        raise HTTPException(UNPROCESSABLE, detail=str(exc)) from exc
    await session.commit()
    return PasswordResetDone(generated_password=generated)


@router.post(
    "/{user_id}/unlock",
    response_model=UnlockDone,
    responses={404: {"description": "No such user"}},
)
async def unlock_user(ctx: Context, session: Session, admin: Admin, user_id: IdPath) -> Any:
    """Clear the user's failed-login counters from every client address (a lockout ends)."""
    cleared = await service.unlock_user(session, ctx.throttle, user_id)
    return UnlockDone(cleared=cleared)
