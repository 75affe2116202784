"""Factories for test data; each returns the committed row."""

from __future__ import annotations

import functools
import itertools

from argon2 import PasswordHasher

from magflow.accounts import service as accounts_service
from magflow.accounts.models import AccountType, EmagAccount
from magflow.accounts.schemas import AccountCreate, PlatformCode
from magflow.auth import service as auth_service
from magflow.auth.models import Role, User
from magflow.auth.passwords import check_password_strength
from magflow.context import AppContext

_sequence = itertools.count(1)
DEFAULT_PASSWORD = "correct horse battery staple"


#: Argon2id at its lowest cost. The app hashes with the library's defaults (about a second
#: on a busy CI machine, and as much again to verify each login); a hash verifies with the
#: parameters stored in it, so users made here log in through the real code in milliseconds.
_TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@functools.cache
def cheap_password_hash(password: str) -> str:
    return _TEST_HASHER.hash(password)


async def make_user(
    ctx: AppContext,
    *,
    role: Role = Role.viewer,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    is_active: bool = True,
) -> User:
    """A user as ``auth.service.create_user`` makes it, with a cheap Argon2id hash (above)."""
    check_password_strength(password)
    async with ctx.db.session() as session:
        user = User(
            email=auth_service.normalize_email(email or f"user{next(_sequence)}@example.com"),
            password_hash=cheap_password_hash(password),
            role=role.value,
        )
        user.is_active = is_active
        session.add(user)
        await session.commit()
        return user


async def make_account(
    ctx: AppContext,
    *,
    name: str | None = None,
    platform: PlatformCode = PlatformCode.ro,
    account_type: AccountType = AccountType.main,
    username: str = "seller",
    password: str = "emag-secret-password",
    base_url: str | None = None,
) -> EmagAccount:
    async with ctx.db.session() as session:
        account = await accounts_service.add_account(
            session,
            ctx.cipher,
            AccountCreate(
                name=name or f"acct{next(_sequence)}",
                platform=platform,
                account_type=account_type,
                username=username,
                password=password,
                base_url=base_url,  # type: ignore[arg-type]
            ),
        )
        await session.commit()
        return account
