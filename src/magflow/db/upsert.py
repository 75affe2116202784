"""Idempotent bulk writes by natural key on SQLite and PostgreSQL.

Statements are built once per (database, table, key, columns) and executed with the rows as
parameters: SQLAlchemy batches them into multi-row ``VALUES`` ("insertmanyvalues") from a cached
compilation. Building ``insert().values(rows)`` per page instead costs a fresh compilation with a
parameter per cell, which was most of a sync's CPU (see bench/README.md). The statements end in
``RETURNING``: SQLAlchemy batches an ``ON CONFLICT`` executemany only then; without it psycopg 3
sends one query per row. Rows of one call must have distinct keys (PostgreSQL refuses to update a
row twice in one statement); callers deduplicate.

Every row written here goes through :func:`magflow.db.limits.fit_rows` first: text longer than
its ``String(n)`` column is cut and a malformed code refuses the write, the same way on SQLite
(which would store anything) and PostgreSQL (which would fail the page).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.db.limits import fit_rows

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
) -> int | None:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` for ``rows`` (all with the same keys).

    Returns how many rows were new on PostgreSQL (``RETURNING (xmax = 0)``: a row inserted by
    this statement has no locking transaction yet, an updated one has this one's), None on
    SQLite, which cannot tell."""
    if not rows:
        return 0
    columns = tuple(c for c in update_columns if c in rows[0])
    if session.get_bind().dialect.name == "postgresql":
        return await _upsert_pg_json(session, table, rows, key, columns)  # fits the rows
    rows = fit_rows(table, rows)

    def build(insert: Any) -> Any:
        return insert.on_conflict_do_update(
            index_elements=list(key), set_={c: insert.excluded[c] for c in columns}
        ).returning(*(table.c[k] for k in key))

    statement = cached_statement(
        session, table, f"upsert:{','.join(key)}:{','.join(columns)}", build
    )
    await session.execute(statement, rows)
    return None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a bulk upsert")


async def _upsert_pg_json(
    session: AsyncSession,
    table: Any,
    rows: list[dict[str, Any]],
    key: Sequence[str],
    columns: Sequence[str],
) -> int:
    quote = session.get_bind().dialect.identifier_preparer.quote
    updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in columns)
    result = await pg_json_insert(
        session,
        table,
        rows,
        f"ON CONFLICT ({', '.join(map(quote, key))}) DO UPDATE SET {updates} RETURNING (xmax = 0)",
    )
    return sum(1 for (inserted,) in result if inserted)


async def pg_json_insert(
    session: AsyncSession, table: Any, rows: list[dict[str, Any]], tail: str
) -> Any:
    """PostgreSQL: insert a page of rows sent as one JSON parameter (``jsonb_populate_recordset``)
    followed by ``tail`` (``ON CONFLICT ... [RETURNING ...]``); returns the result.

    A multi-row ``VALUES`` with a parameter per cell is a query text of many kilobytes that
    psycopg re-parses on every call (it caches only short queries); this statement is short and
    cached, and PostgreSQL converts the JSON to the columns' types (numeric, timestamptz, jsonb)
    in C. ``tail`` is our own SQL, never user input.
    """
    rows = fit_rows(table, rows)
    quote = session.get_bind().dialect.identifier_preparer.quote
    names = tuple(rows[0])
    cache_key = ("postgresql-json", table.name, names, tail)
    statement = _STATEMENTS.get(cache_key)
    if statement is None:
        target = quote(table.name)
        listed = ", ".join(quote(n) for n in names)
        statement = _STATEMENTS[cache_key] = text(
            f"INSERT INTO {target} ({listed}) SELECT {listed} "  # noqa: S608
            f"FROM jsonb_populate_recordset(NULL::{target}, CAST(:rows AS jsonb)) {tail}"
        )
    payload = orjson.dumps(rows, default=_json_default).decode()
    return await session.execute(statement, {"rows": payload})
