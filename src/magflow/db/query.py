"""Small query helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only


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
    """One page of ``query``, ``ORDER BY <order>, id``. With ``columns`` only those attributes of
    ``model`` are loaded (the JSON payloads are most of a row's bytes); touching another raises."""
    if columns is not None:
        loaded = [getattr(model, name) for name in columns]
        query = query.options(load_only(*loaded, raiseload=True))
    rows = await session.execute(query.order_by(order, model.id).offset(offset).limit(limit))
    page: Sequence[Any] = rows.scalars().all()
    return page
