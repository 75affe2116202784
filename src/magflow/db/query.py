"""Small query helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession


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


async def fetch_page(
    session: AsyncSession,
    model: Any,
    query: Select[Any],
    order: ColumnElement[Any],
    *,
    offset: int,
    limit: int,
    columns: Collection[str] | None,
) -> Sequence[Any]:
    """One page of ``query``, ``ORDER BY <order>, id``: ``model`` objects, or with ``columns``
    read-only row mappings of those columns alone (the JSON payloads are most of a row's bytes).

    A listing asks for ``columns``: building an ORM object per row (identity map, attribute
    instrumentation, load state) cost about as much API CPU as the rest of the request, for rows
    that are only read and turned into JSON (BENCHMARKS.md, "load")."""
    query = query.order_by(order, model.id).offset(offset).limit(limit)
    if columns is not None:
        query = query.with_only_columns(*(getattr(model, name) for name in columns))
        page: Sequence[Any] = (await session.execute(query)).mappings().all()
    else:
        page = (await session.execute(query)).scalars().all()
    return page
