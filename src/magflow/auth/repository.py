from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.auth.models import RefreshToken, User
from magflow.db.query import fetch_rows


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email))
    return result.scalar_one_or_none()


async def get_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


_users = User.__table__.c
#: What a read-only request needs of its user: who, their role, and whether the token still
#: holds (``is_active``, ``token_version``). Built once; the password hash is never read.
_READER_BY_ID = select(
    _users.id, _users.email, _users.role, _users.is_active, _users.token_version
).where(_users.id == bindparam("user_id"))


async def reader_by_id(session: AsyncSession, user_id: int) -> User | None:
    """The user ``user_id`` as a read-only request sees it: a detached ``User`` (in no session,
    so nothing set on it is ever written) holding only the columns of :data:`_READER_BY_ID`,
    read by one Core statement instead of an ORM load."""
    rows = await fetch_rows(session, _READER_BY_ID, {"user_id": user_id})
    return User(**rows[0]) if rows else None


async def list_users(session: AsyncSession) -> Sequence[User]:
    result = await session.execute(select(User).order_by(User.id))
    return result.scalars().all()


def add(session: AsyncSession, user: User) -> None:
    session.add(user)


def add_refresh_token(session: AsyncSession, token: RefreshToken) -> None:
    session.add(token)


async def delete_expired_refresh_tokens(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        delete(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.expires_at < now)
    )


async def spend_refresh_token(session: AsyncSession, jti: str, user_id: int, now: datetime) -> bool:
    """Mark an unused, unrevoked refresh token used; False when it was not (one statement)."""
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.jti == jti,
            RefreshToken.user_id == user_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
    )
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def revoke_refresh_family(
    session: AsyncSession, family: str, user_id: int, now: datetime
) -> bool:
    """Revoke every token of ``family``; False when the family is unknown (expired, deleted)."""
    exists = await session.execute(
        select(RefreshToken.jti)
        .where(RefreshToken.family == family, RefreshToken.user_id == user_id)
        .limit(1)
    )
    if exists.first() is None:
        return False
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return True
