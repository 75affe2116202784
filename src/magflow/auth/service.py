"""Users and login. Never commits: the caller owns the transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.auth import repository
from magflow.auth.models import Role, User
from magflow.auth.passwords import (
    check_password_strength,
    generate_password,
    hash_password,
    verify_password,
)
from magflow.auth.throttle import LoginThrottle
from magflow.auth.tokens import InvalidTokenError, TokenService
from magflow.common.errors import NotFoundError


class AuthError(Exception):
    """Login refused; the message is safe to show (it never says which part was wrong)."""


class LoginLockedError(AuthError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


class UserExistsError(ValueError):
    pass


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_user(session: AsyncSession, email: str, password: str, role: Role) -> User:
    email = normalize_email(email)
    if "@" not in email or len(email) > 320:
        raise ValueError(f"not a valid email address: {email!r}")
    check_password_strength(password)
    if await repository.get_by_email(session, email) is not None:
        raise UserExistsError(f"a user with email {email} already exists")
    user = User(email=email, password_hash=hash_password(password), role=role.value)
    repository.add(session, user)
    await session.flush()
    return user


async def authenticate(
    session: AsyncSession, throttle: LoginThrottle, email: str, password: str
) -> User:
    """Check a login; count failures per tried email and lock out after too many."""
    key = normalize_email(email)
    retry_after = await throttle.retry_after(key)
    if retry_after is not None:
        raise LoginLockedError(retry_after)
    user = await repository.get_by_email(session, key)
    valid = verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        await throttle.record_failure(key)
        raise AuthError("incorrect email or password, or the user is disabled")
    await throttle.reset(key)
    user.last_login_at = datetime.now(UTC)
    return user


async def user_from_token(
    session: AsyncSession, tokens: TokenService, token: str, expected: str
) -> User:
    claims = tokens.decode(token, "access" if expected == "access" else "refresh")
    user = await repository.get_by_id(session, claims.user_id)
    if user is None or not user.is_active:
        raise InvalidTokenError("user is unknown or disabled")
    if claims.version != user.token_version:
        raise InvalidTokenError("token has been revoked")
    return user


def issue_pair(tokens: TokenService, user: User) -> tuple[str, str]:
    return (
        tokens.issue(user.id, "access", user.token_version),
        tokens.issue(user.id, "refresh", user.token_version),
    )


async def set_demo_admin(session: AsyncSession, email: str, password: str) -> User:
    """Create the demo admin, or give the existing one a new password (and re-enable it)."""
    user = await repository.get_by_email(session, normalize_email(email))
    if user is None:
        return await create_user(session, email, password, Role.admin)
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.role = Role.admin.value
    user.is_active = True
    user.token_version += 1
    return user


class SelfLockoutError(ValueError):
    """An admin tried to disable or demote themself."""


class UserNotFoundError(NotFoundError):
    pass


async def list_users(session: AsyncSession) -> list[User]:
    return list(await repository.list_users(session))


async def create_user_with_password(
    session: AsyncSession, email: str, role: Role, password: str | None
) -> tuple[User, str | None]:
    """Create a user; when ``password`` is None one is generated and returned (once)."""
    generated = generate_password() if password is None else None
    user = await create_user(session, email, password or generated or "", role)
    return user, generated


async def update_user(
    session: AsyncSession,
    actor: User,
    user_id: int,
    *,
    role: Role | None = None,
    is_active: bool | None = None,
) -> User:
    """Change a user's role or active flag; either change revokes the user's tokens."""
    user = await repository.get_by_id(session, user_id)
    if user is None:
        raise UserNotFoundError(f"no user with id {user_id}")
    if user.id == actor.id:
        if is_active is False:
            raise SelfLockoutError("you cannot disable yourself; ask another admin")
        if role is not None and role != Role.admin:
            raise SelfLockoutError("you cannot remove your own admin role; ask another admin")
    changed = False
    if role is not None and role.value != user.role:
        user.role = role.value
        changed = True
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        changed = True
    if changed:
        user.token_version += 1
    await session.flush()
    return user
