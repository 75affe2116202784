"""The listings' query helpers (magflow.db.query)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Integer, bindparam, event, func, literal_column, select, text
from sqlalchemy.exc import DBAPIError

from magflow.context import AppContext
from magflow.db.engine import Database, PoolLimits
from magflow.db.query import KeptStatement, column_select, fetch_rows
from magflow.sync import repository as sync_repository
from magflow.sync.models import SyncLog


async def test_a_page_sees_what_its_session_holds_unflushed(ctx: AppContext) -> None:
    """A page is read on the session's connection, past the ORM: what the session holds but has
    not sent yet is flushed first, as the ORM's own queries would."""
    async with ctx.db.session() as session:
        session.add(SyncLog(kind="offers", mode="full", status="queued", trigger="api"))
        rows = await sync_repository.page_runs(session, ("kind", "status"))
        assert rows == [{"kind": "offers", "status": "queued"}]
        # The same page again (its statement is kept): the offset and limit are parameters.
        assert await sync_repository.page_runs(session, ("kind", "status"), offset=1) == []


def _run(status: str, at: datetime, **fields: Any) -> SyncLog:
    return SyncLog(
        kind="orders", mode="full", status=status, trigger="api", started_at=at, **fields
    )


def _sqlalchemy_statements(database: Database) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_a_kept_statement_reads_the_same_rows_past_sqlalchemy(ctx: AppContext) -> None:
    """On a kept read session (PostgreSQL) a kept statement goes to psycopg directly, and its
    rows are those SQLAlchemy reads: times in UTC (``UTCDateTime``'s result processor), floats,
    an ``IN`` list and a filter value processed once, the page's offset and limit given at each
    read. Elsewhere (SQLite, an ordinary session) SQLAlchemy runs it."""
    started = datetime(2026, 11, 30, 9, 15, 30, 123456, tzinfo=UTC)
    async with ctx.db.session() as session:
        session.add_all(
            [
                _run("running", started, throughput=12.5, processed_items=7),
                _run("queued", started + timedelta(minutes=1)),
                _run("completed", started - timedelta(days=1), throughput=3.0),
                _run("failed", started - timedelta(days=2)),
            ]
        )
        await session.commit()
    columns = ("id", "status", "started_at", "throughput", "processed_items", "errors")
    kept = KeptStatement(
        column_select(SyncLog, columns)
        .where(
            SyncLog.status.in_(["running", "queued", "completed"]),
            SyncLog.started_at >= started - timedelta(days=1, seconds=1),
        )
        .order_by(SyncLog.id)
        .offset(bindparam("skip", type_=Integer))
        .limit(bindparam("most", type_=Integer)),
        ("skip", "most"),
    )
    database = Database(ctx.settings.async_database_url, PoolLimits(size=4, overflow=0))
    postgresql = database.engine.dialect.name == "postgresql"
    try:
        if postgresql:
            # The kept connection answers in another zone: times come back in UTC all the same.
            async with database.read_session() as session:
                await session.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
        seen = _sqlalchemy_statements(database)
        for skip, most in ((0, 10), (1, 1), (0, 2), (3, 5)):
            async with database.session() as session:
                expected = await fetch_rows(session, kept.statement, {"skip": skip, "most": most})
            sent_before = len(seen)
            async with database.read_session() as session:
                rows = await fetch_rows(session, kept, {"skip": skip, "most": most})
            assert rows == expected
            # Past SQLAlchemy on PostgreSQL: none of its statements for the read.
            assert len(seen) == sent_before + (0 if postgresql else 1)
        async with database.read_session() as session:
            everything = await fetch_rows(session, kept, {"skip": 0, "most": 10})
    finally:
        await database.dispose()
    assert [row["status"] for row in everything] == ["running", "queued", "completed"]
    assert everything[0]["started_at"] == started
    assert everything[0]["started_at"].utcoffset() == timedelta(0)
    assert everything[0]["throughput"] == 12.5
    assert everything[0]["errors"] == []


async def test_times_read_past_sqlalchemy_are_in_utc_as_its_reads_are(ctx: AppContext) -> None:
    """A connection in UTC (``db.engine.in_utc``) gives psycopg's times in ``UTC`` itself, which
    a kept statement passes on as they are: the same value and zone as SQLAlchemy's read (through
    ``UTCDateTime``)."""
    started = datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)
    async with ctx.db.session() as session:
        session.add(_run("running", started))
        await session.commit()
    kept = KeptStatement(column_select(SyncLog, ("started_at",)))
    async with ctx.db.session() as session:
        (expected,) = await fetch_rows(session, kept.statement)
    async with ctx.db.read_session() as session:
        (row,) = await fetch_rows(session, kept)
    assert row == expected == {"started_at": started}
    assert row["started_at"].tzinfo is UTC
    assert expected["started_at"].tzinfo is UTC


async def test_a_kept_statement_that_fails_raises_as_sqlalchemy_would(ctx: AppContext) -> None:
    """A statement the server refuses raises SQLAlchemy's exception (with the server's message),
    and the kept session stays usable; a connection lost during the read fails that read and
    is not kept (``Database._keep_read``)."""
    database = Database(ctx.settings.async_database_url, PoolLimits(size=4, overflow=0))
    failing = KeptStatement(select(literal_column("1 / (random() * 0)::int").label("x")))
    pid = KeptStatement(select(func.pg_backend_pid().label("pid")))
    try:
        if database.engine.dialect.name != "postgresql":
            return
        with pytest.raises(DBAPIError, match="division by zero"):
            async with database.read_session() as session:
                await fetch_rows(session, failing)
        async with database.read_session() as session:
            first = (await fetch_rows(session, pid))[0]["pid"]
        assert database.kept_reads() == (1, 0)

        async with ctx.db.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
        with pytest.raises(DBAPIError):
            async with database.read_session() as session:
                await fetch_rows(session, pid)
        assert database.kept_reads() == (0, 0)
        async with database.read_session() as session:
            assert (await fetch_rows(session, pid))[0]["pid"] != first
    finally:
        await database.dispose()
