"""The listings' query helpers (magflow.db.query)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select

from magflow.context import AppContext
from magflow.db import query
from magflow.db.query import fetch_rows, one_of
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


async def test_a_kept_statement_reads_what_sqlalchemy_reads(ctx: AppContext) -> None:
    """``fetch_rows(..., kept=True)`` (on PostgreSQL: compiled once, run on psycopg itself)
    gives exactly what SQLAlchemy's own execution gives: bound values processed (a list for an
    ``= ANY`` array, an aware time, a name SQLAlchemy escapes), results processed (aware UTC
    times from ``UTCDateTime``), pending objects flushed first; and the second run of the same
    statement object too."""
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    async with ctx.db.session() as session:
        for n in range(3):
            session.add(
                SyncLog(
                    kind="orders",
                    mode="full",
                    status="completed",
                    trigger="api",
                    started_at=start + timedelta(minutes=n),
                    processed_items=n,
                )
            )
        ids = [
            row["id"] for row in await fetch_rows(session, select(SyncLog.id).order_by(SyncLog.id))
        ]
        statement = (
            select(SyncLog.id, SyncLog.started_at, SyncLog.processed_items.label("items.n"))
            .where(
                one_of(session, SyncLog.id, ids),
                SyncLog.started_at >= bindparam("since.at", type_=SyncLog.started_at.type),
            )
            .order_by(SyncLog.id)
        )
        params = {"since.at": start + timedelta(minutes=1)}
        expected = await fetch_rows(session, statement, params)
        assert [row["items.n"] for row in expected] == [1, 2]
        assert all(row["started_at"].tzinfo is not None for row in expected)
        for _ in range(2):
            assert await fetch_rows(session, statement, params, kept=True) == expected
        if session.get_bind().dialect.driver == "psycopg":  # it did run on psycopg directly
            assert query._direct_statements[id(statement)][1] is not None
        # Pending objects are flushed before a kept statement runs, as before any other.
        session.add(
            SyncLog(
                kind="orders",
                mode="full",
                status="completed",
                trigger="api",
                started_at=start + timedelta(minutes=9),
                processed_items=9,
            )
        )
        everything = await fetch_rows(
            session, _ALL_STARTED, {"since": start - timedelta(days=1)}, kept=True
        )
        assert [row["processed_items"] for row in everything] == [0, 1, 2, 9]


_ALL_STARTED = (
    select(SyncLog.processed_items)
    .where(SyncLog.started_at >= bindparam("since", type_=SyncLog.started_at.type))
    .order_by(SyncLog.id)
)
