"""Every query on ``emag_returns``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.db.upsert import upsert
from magflow.returns.models import EmagReturn

_UPDATE_COLUMNS = [
    c.name
    for c in EmagReturn.__table__.columns
    if c.name not in {"id", "account_id", "emag_id", "created_at"}
]


async def upsert_returns(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await upsert(
        session,
        EmagReturn.__table__,
        rows,
        ["account_id", "emag_id"],
        _UPDATE_COLUMNS,
    )


@dataclass(frozen=True)
class ReturnFilter:
    account_ids: Sequence[int] | None = None
    request_status: Sequence[int] | None = None
    order_emag_id: int | None = None


def _filtered(query: Select[Any], f: ReturnFilter) -> Select[Any]:
    if f.account_ids is not None:
        query = query.where(EmagReturn.account_id.in_(f.account_ids))
    if f.request_status:
        query = query.where(EmagReturn.request_status.in_(f.request_status))
    if f.order_emag_id is not None:
        query = query.where(EmagReturn.order_emag_id == f.order_emag_id)
    return query


async def list_returns(
    session: AsyncSession, filters: ReturnFilter, *, offset: int = 0, limit: int = 50
) -> tuple[int, Sequence[EmagReturn]]:
    total = (
        await session.execute(_filtered(select(func.count(EmagReturn.id)), filters))
    ).scalar_one()
    rows = await session.execute(
        _filtered(select(EmagReturn), filters)
        .order_by(EmagReturn.return_date.desc(), EmagReturn.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return int(total), rows.scalars().all()
