"""Small query helpers shared by the repositories."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Executable,
    Integer,
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
        # What the session's autoflush would do before a query (a listing has nothing pending).
        if sync_session.autoflush and (
            sync_session.new or sync_session.dirty or sync_session.deleted
        ):
            sync_session.flush()
        result = sync_session.connection().execute(statement, params)
        keys = tuple(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]

    return await session.run_sync(run)


class Record(SimpleNamespace):
    """A row read by :func:`fetch_records`: one attribute per column, a plain attribute read (a
    SQLAlchemy ``Row`` resolves each attribute by name through its key map, about ten times
    slower: code that reads a row attribute by attribute, such as the customers' formulas, spent
    more time there than in the query)."""


async def fetch_records(
    session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None
) -> list[Record]:
    """The rows of a statement that selects columns, as :class:`Record` objects (a value per
    column by attribute, as an ORM object would give it), executed like :func:`fetch_rows`: for
    code that reads rows attribute by attribute."""
    return [Record(**row) for row in await fetch_rows(session, statement, params)]


def column_select(model: Any, columns: Iterable[str]) -> Select[Any]:
    """``SELECT <columns> FROM <model's table>``, built once per model and columns."""
    return _column_select(model.__table__, tuple(columns))


@functools.cache
def _column_select(table: Table, columns: tuple[str, ...]) -> Select[Any]:
    return select(*(table.c[name] for name in columns))


#: Page statements kept by :func:`page_statement` (all forgotten when that many are kept).
PAGE_STATEMENTS_KEPT = 256
_page_statements: dict[Hashable, Select[Any]] = {}


def page_statement(key: Hashable, build: Callable[[], Select[Any]]) -> Select[Any]:
    """The statement ``build()`` returns (filtered and ordered, not paged), with its offset and
    limit as the parameters ``page_offset`` and ``page_limit``: built once per ``key`` and kept.

    Building a statement is a good part of a listing's CPU in SQLAlchemy (every column
    comparison is several layers of Python), and so is deriving the key of its compiled form,
    which SQLAlchemy computes once per statement object: a listing asked again with the same
    filters and sort (the common case: a screen polled, a page turned) reuses both. ``key`` must
    name everything ``build`` depends on (the listing, its columns, the filters' values, the
    sort)."""
    statement = _page_statements.get(key)
    if statement is None:
        if len(_page_statements) >= PAGE_STATEMENTS_KEPT:
            _page_statements.clear()
        statement = (
            build()
            .offset(bindparam("page_offset", type_=Integer))
            .limit(bindparam("page_limit", type_=Integer))
        )
        _page_statements[key] = statement
    return statement


async def fetch_page(
    session: AsyncSession,
    key: Hashable,
    build: Callable[[], Select[Any]],
    *,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """One page of a listing: the rows of :func:`page_statement` (``key``, ``build``) from
    ``offset``, at most ``limit``, as plain dicts (:func:`fetch_rows`).

    A listing reads only the columns it shows (the JSON payloads are most of a row's bytes) and
    no ORM objects: building one per row (identity map, attribute instrumentation, load state)
    cost about as much API CPU as the rest of the request, for rows that are only read and
    turned into JSON (BENCHMARKS.md, "load")."""
    statement = page_statement(key, build)
    return await fetch_rows(session, statement, {"page_offset": offset, "page_limit": limit})


async def fetch_sorted_page(
    session: AsyncSession,
    model: Any,
    filters: Any,
    columns: tuple[str, ...],
    apply_filter: Callable[[Select[Any], Any], Select[Any]],
    sort_column: Any,
    *,
    descending: bool,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """One page of a listing of ``model``, ``ORDER BY <sort_column>, id``: the ``columns`` of
    each row matching ``apply_filter(query, filters)``, as plain dicts (:func:`fetch_page`; the
    statement is kept per table, columns, filters and sort)."""

    def build() -> Select[Any]:
        query = apply_filter(column_select(model, columns), filters)
        order = sort_column.desc() if descending else sort_column.asc()
        return query.order_by(order, model.id)

    key = (model.__tablename__, columns, repr(filters), sort_column.key, descending)
    return await fetch_page(session, key, build, offset=offset, limit=limit)
