"""Every query on ``audit_log``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.audit.models import AuditLog


def add(session: AsyncSession, entry: AuditLog) -> None:
    session.add(entry)


@dataclass(frozen=True)
class AuditFilter:
    account_id: int | None = None
    user_id: int | None = None
    action: str | None = None
    emag_route: str | None = None
    success: bool | None = None
    target: str | None = None
    bulk_operation_id: int | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None


def _filtered(query: Select[Any], f: AuditFilter) -> Select[Any]:
    if f.account_id is not None:
        query = query.where(AuditLog.account_id == f.account_id)
    if f.user_id is not None:
        query = query.where(AuditLog.user_id == f.user_id)
    if f.action:
        query = query.where(AuditLog.action == f.action)
    if f.emag_route:
        query = query.where(AuditLog.emag_route == f.emag_route)
    if f.success is not None:
        query = query.where(AuditLog.success.is_(f.success))
    if f.target:
        query = query.where(AuditLog.target == f.target)
    if f.bulk_operation_id is not None:
        query = query.where(AuditLog.bulk_operation_id == f.bulk_operation_id)
    if f.date_from is not None:
        query = query.where(AuditLog.created_at >= f.date_from)
    if f.date_to is not None:
        query = query.where(AuditLog.created_at < f.date_to)
    return query


async def list_entries(
    session: AsyncSession, filters: AuditFilter, *, offset: int = 0, limit: int = 50
) -> tuple[int, Sequence[AuditLog]]:
    total = (
        await session.execute(_filtered(select(func.count(AuditLog.id)), filters))
    ).scalar_one()
    rows = await session.execute(
        _filtered(select(AuditLog), filters)
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return int(total), rows.scalars().all()
