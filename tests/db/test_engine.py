from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from magflow.app import ROUTERS
from magflow.common.deps import is_read_only
from magflow.context import AppContext
from magflow.db import engine as engine_module
from magflow.db.engine import Database, PoolLimits, ping_when_idle


async def test_reads_run_without_a_transaction_on_postgresql(ctx: AppContext) -> None:
    """On PostgreSQL each statement of a read session is its own transaction (no BEGIN, no
    ROLLBACK round trips); the ordinary session keeps one transaction. SQLite: both are the
    ordinary session, which starts no transaction for a SELECT anyway."""
    if ctx.db.engine.dialect.name != "postgresql":
        assert ctx.db.read_sessionmaker is ctx.db.sessionmaker
        return
    txid = text("SELECT txid_current()")
    async with ctx.db.read_session() as session:
        first, second = [(await session.execute(txid)).scalar_one() for _ in range(2)]
    assert first != second
    async with ctx.db.session() as session:
        first, second = [(await session.execute(txid)).scalar_one() for _ in range(2)]
    assert first == second


def test_the_load_mix_listings_and_only_they_read_without_a_transaction() -> None:
    marked = {
        (route.path, method)
        for route in (route for router in ROUTERS for route in router.routes)
        if isinstance(route, APIRoute) and is_read_only(route.endpoint)
        for method in route.methods
    }
    assert marked == {
        ("/api/v1/emag/offers", "GET"),
        ("/api/v1/emag/orders", "GET"),
        ("/api/v1/admin/emag-customers", "GET"),
        ("/api/v1/emag/sync-logs", "GET"),
        ("/api/v1/emag/enhanced/status", "GET"),
        ("/api/v1/emag/enhanced/products/sync-progress", "GET"),
    }


async def test_a_connection_dropped_while_idle_is_replaced_before_use(ctx: AppContext) -> None:
    """No ping per checkout any more, only after an idle spell (here: any); a pooled
    connection whose server process was terminated meanwhile is replaced, not handed out."""
    if ctx.db.engine.dialect.name != "postgresql":
        return
    database = Database(ctx.settings.async_database_url, PoolLimits(size=1, overflow=0))
    ping_when_idle(database.engine, 0)
    pid = text("SELECT pg_backend_pid()")
    try:
        async with database.read_session() as session:
            first = (await session.execute(pid)).scalar_one()
        async with ctx.db.read_session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
        async with database.read_session() as session:
            assert (await session.execute(pid)).scalar_one() != first
    finally:
        await database.dispose()


PID = text("SELECT pg_backend_pid()")


async def _read_pid(database: Database) -> int:
    async with database.read_session() as session:
        return int((await session.execute(PID)).scalar_one())


async def test_read_sessions_keep_their_connection_between_reads(ctx: AppContext) -> None:
    """PostgreSQL: a read session and its connection serve the next read (no checkout, no
    autocommit switch); two reads at once get two; a small pool keeps none for reads, so
    writes always find a connection. SQLite keeps none."""
    postgresql = ctx.db.engine.dialect.name == "postgresql"
    database = Database(ctx.settings.async_database_url, PoolLimits(size=4, overflow=0))
    try:
        if not postgresql:
            async with database.read_session() as session:
                await session.execute(text("SELECT 1"))
            assert database.kept_reads() == (0, 0)
            return
        first = await _read_pid(database)
        assert await _read_pid(database) == first
        assert database.kept_reads() == (1, 0)
        async with database.read_session() as one, database.read_session() as two:
            pids = {(await s.execute(PID)).scalar_one() for s in (one, two)}
            assert database.kept_reads() == (0, 2)
            # Beyond half the pool (2 of 4): an ordinary pooled session, still a read.
            async with database.read_session() as three:
                assert (await three.execute(PID)).scalar_one() not in pids
            assert database.kept_reads() == (0, 2)
        assert database.kept_reads() == (2, 0)
        assert first in pids
        pool = database.engine.sync_engine.pool
        assert pool.checkedout() == 2  # the two kept ones, idle
    finally:
        await database.dispose()
    assert database.kept_reads() == (0, 0)
    assert database.engine.sync_engine.pool.checkedout() == 0

    small = Database(ctx.settings.async_database_url, PoolLimits(size=1, overflow=0, timeout=1))
    try:
        await _read_pid(small)
        assert small.kept_reads() == (0, 0)
        async with small.session() as session:  # the only connection is free for a write
            await session.execute(text("SELECT 1"))
    finally:
        await small.dispose()


async def test_a_kept_read_connection_that_died_is_replaced(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle past the ping delay (here: always), a kept connection is pinged before use: one
    whose server process was terminated is given back to the pool and the read gets another.
    One that dies during a read fails that read (as a pooled one does) and is not kept."""
    if ctx.db.engine.dialect.name != "postgresql":
        return
    database = Database(ctx.settings.async_database_url, PoolLimits(size=4, overflow=0))
    terminate = text("SELECT pg_terminate_backend(:p)")
    try:
        first = await _read_pid(database)
        async with ctx.db.session() as session:
            await session.execute(terminate, {"p": first})
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        second = await _read_pid(database)
        assert second != first
        assert database.kept_reads() == (1, 0)

        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)  # no ping
        async with ctx.db.session() as session:
            await session.execute(terminate, {"p": second})
        with pytest.raises(DBAPIError):
            await _read_pid(database)
        assert database.kept_reads() == (0, 0)
        assert await _read_pid(database) not in (first, second)
    finally:
        await database.dispose()


async def test_a_read_that_raises_keeps_its_session_usable(ctx: AppContext) -> None:
    """An error in the route (a 404, say) ends the read; the kept session is cleaned and the
    next read works on it, with nothing left of the last one."""
    database = Database(ctx.settings.async_database_url, PoolLimits(size=4, overflow=0))
    try:
        with pytest.raises(LookupError):
            async with database.read_session() as session:
                await session.execute(text("SELECT 1"))
                session.info["left"] = True
                raise LookupError("no such thing")
        async with database.read_session() as session:
            assert "left" not in session.info
            assert (await session.execute(text("SELECT 2"))).scalar_one() == 2
    finally:
        await database.dispose()
