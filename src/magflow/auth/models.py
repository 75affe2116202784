"""Users of MagFlow (not eMAG customers)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, TimestampMixin


class Role(StrEnum):
    """Roles, from most to least privileged."""

    admin = "admin"
    operator = "operator"
    viewer = "viewer"

    @property
    def rank(self) -> int:
        return {Role.admin: 3, Role.operator: 2, Role.viewer: 1}[self]


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
