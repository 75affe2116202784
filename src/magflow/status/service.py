"""Liveness of the parts MagFlow depends on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from magflow.context import AppContext
from magflow.db.migrate import head_revision

CHECK_TIMEOUT_SECONDS = 3.0


@dataclass
class HealthReport:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failing(self) -> list[str]:
        return [name for name, check in self.checks.items() if check["ok"] is False]

    @property
    def healthy(self) -> bool:
        return not self.failing


async def _database(ctx: AppContext) -> tuple[dict[str, Any], str | None]:
    async with ctx.db.session() as session:
        await session.execute(text("SELECT 1"))
        try:
            result = await session.execute(text("SELECT version_num FROM alembic_version"))
            current = result.scalar_one_or_none()
        except Exception:  # no alembic_version table: never migrated
            current = None
    return {"ok": True}, current


async def check_health(ctx: AppContext) -> HealthReport:
    report = HealthReport()
    current: str | None = None
    try:
        report.checks["database"], current = await asyncio.wait_for(
            _database(ctx), CHECK_TIMEOUT_SECONDS
        )
    except Exception as exc:
        report.checks["database"] = {"ok": False, "error": _describe(exc)}

    head = head_revision()
    if report.checks["database"]["ok"]:
        report.checks["migrations"] = {"ok": current == head, "current": current, "head": head}
        if current != head:
            report.checks["migrations"]["error"] = (
                f"database is at revision {current}, code expects {head}: run 'magflow db upgrade'"
            )
    else:
        report.checks["migrations"] = {
            "ok": False,
            "head": head,
            "error": "unknown: database unreachable",
        }

    if ctx.redis is None:
        report.checks["redis"] = {"ok": None, "configured": False}
    else:
        try:
            await asyncio.wait_for(ctx.redis.ping(), CHECK_TIMEOUT_SECONDS)  # type: ignore[misc]
            report.checks["redis"] = {"ok": True, "configured": True}
        except Exception as exc:
            report.checks["redis"] = {"ok": False, "configured": True, "error": _describe(exc)}
    return report


def _describe(exc: BaseException) -> str:
    """A short reason, without connection strings (which may hold passwords)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    return type(exc).__name__
