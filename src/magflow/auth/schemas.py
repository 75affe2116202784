from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from magflow.auth.models import Role
from magflow.auth.passwords import MIN_PASSWORD_LENGTH
from magflow.common.schemas import UtcDateTime

MAX_PASSWORD_LENGTH = 1024


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)


class PasswordReset(BaseModel):
    password: str | None = Field(
        default=None,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description="generated (and returned once) when absent",
    )


class PasswordResetDone(BaseModel):
    generated_password: str | None = Field(
        default=None, description="shown only in this answer, when no password was given"
    )


class UnlockDone(BaseModel):
    cleared: int = Field(description="login-attempt counters cleared (one per client address)")


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshRequest(BaseModel):
    refresh_token: str


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    role: Role
    is_active: bool
    created_at: UtcDateTime
    last_login_at: UtcDateTime | None


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    role: Role = Role.viewer
    password: str | None = Field(
        default=None,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=1024,
        description="generated (and returned once) when absent",
    )


class UserCreated(UserOut):
    generated_password: str | None = Field(
        default=None, description="shown only in this answer, when no password was given"
    )


class UserUpdate(BaseModel):
    role: Role | None = None
    is_active: bool | None = None
