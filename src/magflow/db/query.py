"""Small query helpers shared by the repositories."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Executable,
    Row,
    Select,
    Table,
    any_,
    bindparam,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session


def like_pattern(text: str) -> str:
    """A case-insensitive ``LIKE`` pattern matching ``text`` anywhere, with ``%``, ``_`` and
    the escape character itself taken literally (use with ``escape="\\\\"``)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def as_bigint(text: str) -> int | None:
    """``text`` as a value for a BIGINT column (an eMAG id) when it is one, else None: ASCII
    digits only (``"²".isdigit()`` is true, but ``int("²")`` raises) within 64 bits (SQLite
    raises OverflowError beyond, and no row holds such a number anyway)."""
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= 2**63 - 1 else None


def one_of(session: AsyncSession, column: Any, values: list[int]) -> ColumnElement[bool]:
    """``column IN (values)`` for integer ids. On PostgreSQL it is sent as ``= ANY(:array)``: one
    short query text, which psycopg caches, instead of a placeholder per value, which psycopg
    parses again in Python on every call (a tenth of a sync's CPU, bench/README.md)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", values, type_=ARRAY(BigInteger)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


async def fetch_rows(
    session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The rows of a statement that selects columns, as plain dicts (column name → value).

    Executed on the session's connection, in one switch into SQLAlchemy's greenlet: no ORM
    execution layer (its per-statement state, loading and row objects) for rows that are only
    read. Plain dicts, because validating them into a pydantic model is the cheap path: a row
    mapping goes through pydantic's generic ``Mapping`` path, one ``get`` per field per row
    (issue 18: the rows' validation cost as much as the query)."""

    def run(sync_session: Session) -> list[dict[str, Any]]:
        result = sync_session.connection().execute(statement, params)
        keys = tuple(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]

    return await session.run_sync(run)


async def fetch_records(
    session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None
) -> Sequence[Row[Any]]:
    """The rows of a statement that selects columns, as SQLAlchemy ``Row`` objects (a value per
    column by attribute, as an ORM object would give it), executed like :func:`fetch_rows`: for
    code that reads rows attribute by attribute."""

    def run(sync_session: Session) -> Sequence[Row[Any]]:
        return sync_session.connection().execute(statement, params).fetchall()

    return await session.run_sync(run)


def column_select(model: Any, columns: Iterable[str]) -> Select[Any]:
    """``SELECT <columns> FROM <model's table>``, built once per model and columns."""
    return _column_select(model.__table__, tuple(columns))


@functools.cache
def _column_select(table: Table, columns: tuple[str, ...]) -> Select[Any]:
    return select(*(table.c[name] for name in columns))


async def fetch_page(
    session: AsyncSession,
    model: Any,
    query: Select[Any],
    order: ColumnElement[Any],
    *,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """One page of ``query`` (a :func:`column_select` of ``model``, filtered), ``ORDER BY
    <order>, id``, as plain dicts (:func:`fetch_rows`).

    A listing reads only the columns it shows (the JSON payloads are most of a row's bytes) and
    no ORM objects: building one per row (identity map, attribute instrumentation, load state)
    cost about as much API CPU as the rest of the request, for rows that are only read and
    turned into JSON (BENCHMARKS.md, "load")."""
    return await fetch_rows(session, query.order_by(order, model.id).offset(offset).limit(limit))
