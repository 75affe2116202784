"""Small query helpers shared by the repositories."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC
from types import SimpleNamespace
from typing import Any, cast

import psycopg
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Executable,
    Integer,
    Select,
    Table,
    any_,
    bindparam,
    exc,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from magflow.db.base import UTCDateTime


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
    session: AsyncSession,
    statement: Executable | KeptStatement,
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The rows of a statement that selects columns, as plain dicts (column name → value).

    Executed on the session's connection, in one switch into SQLAlchemy's greenlet: no ORM
    execution layer (its per-statement state, loading and row objects) for rows that are only
    read. Plain dicts, because validating them into a pydantic model is the cheap path: a row
    mapping goes through pydantic's generic ``Mapping`` path, one ``get`` per field per row
    (issue 18: the rows' validation cost as much as the query). A :class:`KeptStatement` on a
    kept read session (PostgreSQL) goes to psycopg directly."""
    if isinstance(statement, KeptStatement):
        connection = _raw_connection(session)
        if connection is not None:
            return await statement.fetch_raw(session, connection, params or {})
        statement = statement.statement

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
    session: AsyncSession,
    statement: Executable | KeptStatement,
    params: dict[str, Any] | None = None,
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


class KeptStatement:
    """A statement built once and kept (a module's constant, or a page statement kept per
    filters: :func:`page_statement`), read by :func:`fetch_rows`.

    On a kept read session (PostgreSQL) it is sent to psycopg directly: what SQLAlchemy does on
    every execution of a statement (look up its compiled form by its cache key, expand ``IN``
    lists, process each parameter, set up an execution context and a result with its row
    processors) took about half of a short listing's time in the database layer (issue 18: 0.3
    ms of CPU per page against 0.1 ms in psycopg itself). A kept statement's values never change
    (a page statement's are part of its key), so its text and processed parameters are computed
    once, at its first such read: each later read is the psycopg call, the parameters given
    then (``variable``: a page's offset and limit; never an ``IN`` list, whose length would
    change the text) and the columns' own result processors (SQLAlchemy's; ``db.base.UTCDateTime``
    only on a connection that is not in UTC: ``db.engine.in_utc``)."""

    def __init__(self, statement: Select[Any], variable: tuple[str, ...] = ()) -> None:
        self.statement = statement
        self.variable = variable
        self._raw: _RawStatement | None = None

    async def fetch_raw(
        self, session: AsyncSession, connection: Any, params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raw = self._raw
        if raw is None:
            raw = self._raw = _RawStatement.of(self, session.get_bind().dialect)
        try:
            return await raw.fetch(connection, params)
        except psycopg.Error as error:
            # As SQLAlchemy would raise it (callers catch SQLAlchemy's exceptions), the
            # connection invalidated when the error lost it, so that it is not kept
            # (``Database._keep_read``).
            if connection.closed or connection.broken:
                await cast("AsyncConnection", session.bind).invalidate()
            raise exc.DBAPIError.instance(raw.sql, raw.params, error, psycopg.Error) from error


@dataclass
class _RawStatement:
    """A :class:`KeptStatement` as psycopg runs it: its text, its bound parameters, the
    processors of those given at each read, and its columns' result types."""

    sql: str
    params: dict[str, Any]
    variable: dict[str, Callable[[Any], Any] | None]
    keys: tuple[str, ...]
    result_types: tuple[Any, ...]
    dialect: Any
    #: Each column's result processor (or None), from the first answer's column types.
    processors: tuple[Callable[[Any], Any] | None, ...] | None = None
    #: The same without ``UTCDateTime``'s, for a connection in UTC (``db.engine.in_utc``):
    #: psycopg's times are then already what it would make of them.
    processors_in_utc: tuple[Callable[[Any], Any] | None, ...] | None = None

    @classmethod
    def of(cls, kept: KeptStatement, dialect: Any) -> _RawStatement:
        compiled = kept.statement.compile(dialect=dialect)
        state = compiled.construct_expanded_state(dict.fromkeys(kept.variable))
        processors = state.processors
        params = {
            name: processors[name](value) if name in processors else value
            for name, value in state.parameters.items()
            if name not in kept.variable
        }
        columns = kept.statement.selected_columns
        return cls(
            state.statement,
            params,
            {name: processors.get(name) for name in kept.variable},
            tuple(columns.keys()),
            tuple(column.type.dialect_impl(dialect) for column in columns),
            dialect,
        )

    async def fetch(self, connection: Any, given: dict[str, Any]) -> list[dict[str, Any]]:
        params = dict(self.params)
        for name, process in self.variable.items():
            params[name] = given[name] if process is None else process(given[name])
        async with connection.cursor() as cursor:
            await cursor.execute(self.sql, params)
            rows = await cursor.fetchall()
            if self.processors is None:
                self._set_processors(cursor.description)
        processors = self.processors_in_utc if connection.info.timezone is UTC else self.processors
        assert processors is not None
        keys = self.keys
        if not any(processors):
            return [dict(zip(keys, row, strict=True)) for row in rows]
        return [
            {
                key: value if process is None else process(value)
                for key, process, value in zip(keys, processors, row, strict=True)
            }
            for row in rows
        ]

    def _set_processors(self, description: Any) -> None:
        processors = tuple(
            kind.result_processor(self.dialect, column.type_code)
            for kind, column in zip(self.result_types, description, strict=True)
        )
        self.processors = processors
        self.processors_in_utc = tuple(
            None if isinstance(kind, UTCDateTime) else process
            for kind, process in zip(self.result_types, processors, strict=True)
        )


#: Page statements kept by :func:`page_statement` (all forgotten when that many are kept).
PAGE_STATEMENTS_KEPT = 256
PAGE_OFFSET, PAGE_LIMIT = "page_offset", "page_limit"
_page_statements: dict[Hashable, KeptStatement] = {}


def page_statement(key: Hashable, build: Callable[[], Select[Any]]) -> KeptStatement:
    """The statement ``build()`` returns (filtered and ordered, not paged), with its offset and
    limit as the parameters ``page_offset`` and ``page_limit``: built once per ``key`` and kept.

    Building a statement is a good part of a listing's CPU in SQLAlchemy (every column
    comparison is several layers of Python), and so is deriving the key of its compiled form,
    which SQLAlchemy computes once per statement object: a listing asked again with the same
    filters and sort (the common case: a screen polled, a page turned) reuses both. ``key`` must
    name everything ``build`` depends on (the listing, its columns, the filters' values, the
    sort)."""
    kept = _page_statements.get(key)
    if kept is None:
        if len(_page_statements) >= PAGE_STATEMENTS_KEPT:
            _page_statements.clear()
        statement = (
            build()
            .offset(bindparam(PAGE_OFFSET, type_=Integer))
            .limit(bindparam(PAGE_LIMIT, type_=Integer))
        )
        kept = _page_statements[key] = KeptStatement(statement, (PAGE_OFFSET, PAGE_LIMIT))
    return kept


def _raw_connection(session: AsyncSession) -> Any:
    """The psycopg connection of a kept read session (``Database.read_session``: bound to its own
    connection, in autocommit) when it is ready for a statement of its own, else None.

    Only such a session: a statement sent on the driver's connection is then exactly what
    SQLAlchemy would send (no transaction of the session's to join), and nothing pending to
    flush (a read session never writes)."""
    bind = session.bind
    if not isinstance(bind, AsyncConnection) or bind.dialect.name != "postgresql":
        return None
    connection = bind.sync_connection
    if (
        connection is None
        or connection.closed
        or connection.invalidated
        or connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT"
    ):
        return None
    sync_session = session.sync_session
    if sync_session.new or sync_session.dirty or sync_session.deleted:
        return None
    return connection.connection.driver_connection


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
    return await fetch_rows(session, statement, {PAGE_OFFSET: offset, PAGE_LIMIT: limit})


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
