"""Users and login. Never commits: the caller owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.auth import repository
from magflow.auth.gate import VerificationGate
from magflow.auth.models import RefreshToken, Role, User
from magflow.auth.passwords import (
    check_password_strength,
    generate_password,
    hash_password,
)
from magflow.auth.readers import ReaderCache
from magflow.auth.throttle import LoginThrottle
from magflow.auth.tokens import InvalidTokenError, TokenClaims, TokenService
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


@dataclass(frozen=True)
class LoginCandidate:
    """What verifying a login needs of the user, read in a session closed before verifying."""

    user_id: int | None
    password_hash: str | None
    is_active: bool


async def login_candidate(session: AsyncSession, email: str) -> LoginCandidate:
    user = await repository.get_by_email(session, normalize_email(email))
    if user is None:
        return LoginCandidate(None, None, False)
    return LoginCandidate(user.id, user.password_hash, user.is_active)


async def complete_login(session: AsyncSession, user_id: int) -> User:
    """Record a verified login (in a new, short session); AuthError when the user went away."""
    user = await repository.get_by_id(session, user_id)
    if user is None or not user.is_active:
        raise AuthError("incorrect email or password, or the user is disabled")
    user.last_login_at = datetime.now(UTC)
    return user


async def user_from_token(
    session: AsyncSession,
    tokens: TokenService,
    token: str,
    expected: str,
    *,
    readers: ReaderCache | None = None,
) -> User:
    """The user a token names, checked on every call (active, and the token's version is the
    user's: a logout, a password change or a disabled user refuses the token).

    With ``readers`` (the read-only routes): the user is read by a lean statement and returned
    detached, holding what a read needs (:func:`repository.reader_by_id`), kept per process for
    a second (``auth/readers.py`` says how fresh that is); else it is loaded into ``session``,
    for the routes that change it, and checked against the database at once."""
    claims = tokens.decode(token, "access" if expected == "access" else "refresh")
    return await _user_of(session, claims, readers=readers)


async def _user_of(
    session: AsyncSession, claims: TokenClaims, *, readers: ReaderCache | None = None
) -> User:
    if readers is None:
        user = await repository.get_by_id(session, claims.user_id)
    else:
        user = await readers.get(
            claims.user_id, lambda user_id: repository.reader_by_id(session, user_id)
        )
    if user is None or not user.is_active:
        raise InvalidTokenError("user is unknown or disabled")
    if claims.version != user.token_version:
        raise InvalidTokenError("token has been revoked")
    return user


class RefreshReuseError(InvalidTokenError):
    """A refresh token was presented a second time: its family is now revoked (the caller
    commits that before answering)."""


async def issue_pair(
    session: AsyncSession, tokens: TokenService, user: User, family: str | None = None
) -> tuple[str, str]:
    """An access token and a refresh token; the refresh token is recorded (single use) in
    ``family``, or in a new family (a login)."""
    now = datetime.now(UTC)
    jti = uuid.uuid4().hex
    family = family or uuid.uuid4().hex
    await repository.delete_expired_refresh_tokens(session, user.id, now)
    repository.add_refresh_token(
        session,
        RefreshToken(
            jti=jti,
            family=family,
            user_id=user.id,
            created_at=now,
            expires_at=now + tokens.refresh_lifetime,
        ),
    )
    await session.flush()
    return (
        tokens.issue(user.id, "access", user.token_version),
        tokens.issue(user.id, "refresh", user.token_version, jti=jti, family=family),
    )


async def rotate_refresh(
    session: AsyncSession, tokens: TokenService, token: str
) -> tuple[str, str]:
    """Spend a refresh token on a new pair of its family.

    Marking it used is one conditional ``UPDATE``, so two requests racing with the same token
    cannot both win. A token already used (or revoked) revokes its whole family:
    :class:`RefreshReuseError`."""
    claims = tokens.decode(token, "refresh")
    user = await _user_of(session, claims)
    if not claims.jti or not claims.family:
        raise InvalidTokenError("token has been revoked")
    now = datetime.now(UTC)
    if await repository.spend_refresh_token(session, claims.jti, user.id, now):
        return await issue_pair(session, tokens, user, family=claims.family)
    if await repository.revoke_refresh_family(session, claims.family, user.id, now):
        raise RefreshReuseError(
            "refresh token already used: every token of this session is revoked; log in again"
        )
    raise InvalidTokenError("token has been revoked")


async def change_own_password(
    session: AsyncSession, gate: VerificationGate, user: User, current: str, new: str
) -> None:
    """Change the caller's password (the current one is verified first); revokes every token
    issued so far, this session's included."""
    if not await gate.verify(user.password_hash, current):
        raise AuthError("the current password is incorrect")
    check_password_strength(new)
    user.password_hash = await anyio.to_thread.run_sync(hash_password, new)
    user.token_version += 1


async def _user_by_id_or_email(
    session: AsyncSession, user_id: int | None, email: str | None
) -> User:
    """The user named by ``email`` (the CLI) or else ``user_id`` (the API)."""
    if email is not None:
        user = await repository.get_by_email(session, normalize_email(email))
        missing = f"no user with email {normalize_email(email)}"
    else:
        user = await repository.get_by_id(session, user_id or 0)
        missing = f"no user with id {user_id}"
    if user is None:
        raise UserNotFoundError(missing)
    return user


async def reset_password(
    session: AsyncSession, user_id: int | None, new: str | None, *, email: str | None = None
) -> tuple[User, str | None]:
    """An admin sets (or generates, returned once) a user's password; revokes their tokens."""
    user = await _user_by_id_or_email(session, user_id, email)
    generated = generate_password() if new is None else None
    password = new if new is not None else (generated or "")
    check_password_strength(password)
    user.password_hash = await anyio.to_thread.run_sync(hash_password, password)
    user.token_version += 1
    await session.flush()
    return user, generated


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


async def unlock_user(
    session: AsyncSession, throttle: LoginThrottle, user_id: int | None, *, email: str | None = None
) -> int:
    """Clear a user's login-attempt counters (every client address); returns how many."""
    user = await _user_by_id_or_email(session, user_id, email)
    return await throttle.unlock(user.email)


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
