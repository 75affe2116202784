"""Idempotent bulk writes by natural key on SQLite and PostgreSQL.

Statements are built once per (database, table, key, columns) and executed with the rows as
parameters: SQLAlchemy batches them into multi-row ``VALUES`` ("insertmanyvalues") from a cached
compilation. Building ``insert().values(rows)`` per page instead costs a fresh compilation with a
parameter per cell, which was most of a sync's CPU (see bench/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the session's database."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(table)


def cached_statement(
    session: AsyncSession, table: Any, name: str, build: Callable[[Any], Any]
) -> Any:
    """``build(insert(table))``, made once per database dialect and ``name``."""
    key = (session.get_bind().dialect.name, table.name, name)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build(dialect_insert(session, table))
    return statement


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
    columns = tuple(c for c in update_columns if c in rows[0])

    def build(insert: Any) -> Any:
        return insert.on_conflict_do_update(
            index_elements=list(key), set_={c: insert.excluded[c] for c in columns}
        )

    statement = cached_statement(
        session, table, f"upsert:{','.join(key)}:{','.join(columns)}", build
    )
    await session.execute(statement, rows)
