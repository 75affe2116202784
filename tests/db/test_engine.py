from __future__ import annotations

from fastapi.routing import APIRoute
from sqlalchemy import text

from magflow.app import ROUTERS
from magflow.common.deps import is_read_only
from magflow.context import AppContext
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
