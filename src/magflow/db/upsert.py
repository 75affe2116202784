"""Idempotent bulk writes by natural key on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

# SQLite allows 32766 bound parameters per statement; PostgreSQL 65535. Stay well below.
MAX_PARAMETERS = 30000


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the session's database."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(table)


async def upsert(
    session: AsyncSession,
    table: Any,
    rows: list[dict[str, Any]],
    key: Sequence[str],
    update_columns: Sequence[str],
) -> None:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` for ``rows`` (all with the same keys)."""
    if not rows:
        return
    per_statement = max(1, MAX_PARAMETERS // max(1, len(rows[0])))
    for start in range(0, len(rows), per_statement):
        statement = dialect_insert(session, table).values(rows[start : start + per_statement])
        columns = [c for c in update_columns if c in rows[0]]
        statement = statement.on_conflict_do_update(
            index_elements=list(key),
            set_={c: statement.excluded[c] for c in columns},
        )
        await session.execute(statement)
