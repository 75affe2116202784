from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts.models import EmagAccount


async def get_by_name(session: AsyncSession, name: str) -> EmagAccount | None:
    result = await session.execute(select(EmagAccount).where(EmagAccount.name == name))
    return result.scalar_one_or_none()


async def get_by_id(session: AsyncSession, account_id: int) -> EmagAccount | None:
    return await session.get(EmagAccount, account_id)


async def list_accounts(
    session: AsyncSession, *, active_only: bool = False, account_type: str | None = None
) -> Sequence[EmagAccount]:
    query = select(EmagAccount).order_by(EmagAccount.id)
    if active_only:
        query = query.where(EmagAccount.is_active.is_(True))
    if account_type is not None:
        query = query.where(EmagAccount.account_type == account_type)
    result = await session.execute(query)
    return result.scalars().all()


def add(session: AsyncSession, account: EmagAccount) -> None:
    session.add(account)


async def delete(session: AsyncSession, account: EmagAccount) -> None:
    await session.delete(account)
