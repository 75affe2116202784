"""Users of MagFlow (not eMAG customers)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, TimestampMixin, utcnow


class Role(StrEnum):
    """Roles, from most to least privileged."""

    admin = "admin"
    operator = "operator"
    viewer = "viewer"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.admin: 3, Role.operator: 2, Role.viewer: 1}


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.viewer.value)
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped to revoke every refresh token issued before (logout, password change).
    token_version: Mapped[int] = mapped_column(default=0)
    last_login_at: Mapped[datetime | None]


class RefreshToken(Base):
    """One issued refresh token (by its ``jti``) and the family (login) it descends from.

    A refresh token is good for one use: refreshing marks it used and issues the next one of the
    family. Presenting a used one again means two parties hold the family (one of them stole a
    token), so the whole family is revoked and both must log in again."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
