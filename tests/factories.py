"""Factories for test data; each returns the committed row."""

from __future__ import annotations

import itertools

from magflow.accounts import service as accounts_service
from magflow.accounts.models import AccountType, EmagAccount
from magflow.accounts.schemas import AccountCreate, PlatformCode
from magflow.auth import service as auth_service
from magflow.auth.models import Role, User
from magflow.context import AppContext

_sequence = itertools.count(1)
DEFAULT_PASSWORD = "correct horse battery staple"


async def make_user(
    ctx: AppContext,
    *,
    role: Role = Role.viewer,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    is_active: bool = True,
) -> User:
    async with ctx.db.session() as session:
        user = await auth_service.create_user(
            session, email or f"user{next(_sequence)}@example.com", password, role
        )
        user.is_active = is_active
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
