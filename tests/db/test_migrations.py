from __future__ import annotations

import contextlib
import sqlite3

from sqlalchemy import inspect, text

from magflow.context import AppContext
from magflow.db.migrate import current_revision, head_revision, upgrade
from magflow.db.models import Base


async def test_migrations_reach_head_and_match_the_models(ctx: AppContext) -> None:
    url = ctx.settings.async_database_url
    upgrade(url)  # idempotent on an already migrated database
    assert current_revision(url) == head_revision()

    async with ctx.db.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert set(Base.metadata.tables) <= tables
        columns = await conn.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("emag_sync_logs")}
        )
    assert {"processed_items", "total_items", "errors", "checkpoint"} <= columns


async def test_natural_keys_are_unique(ctx: AppContext) -> None:
    async with ctx.db.engine.connect() as conn:
        uniques = await conn.run_sync(
            lambda sync: {
                table: [
                    tuple(u["column_names"]) for u in inspect(sync).get_unique_constraints(table)
                ]
                for table in ("emag_products_v2", "emag_orders")
            }
        )
    assert ("account_id", "emag_id") in uniques["emag_products_v2"]
    assert ("account_id", "emag_id") in uniques["emag_orders"]


def test_fresh_sqlite_file_is_created_and_migrated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path}/sub/dir/new.db"
    upgrade(url)
    assert current_revision(url) == head_revision()
    # In WAL already, before any connection of the app (which would otherwise race to switch).
    with contextlib.closing(sqlite3.connect(tmp_path / "sub" / "dir" / "new.db")) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_the_database_answers(ctx: AppContext) -> None:
    async with ctx.db.session() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    """procrastinate's tables share the database (its schema is applied by the durable jobs tests,
    which may run first in this worker): they are not ours to compare."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


async def test_migrations_and_models_agree(ctx: AppContext) -> None:
    """A model change without its migration (or the reverse) fails here, on both databases."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    async with ctx.db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(
                    sync, opts={"compare_type": False, "include_name": _ours}
                ),
                Base.metadata,
            )
        )
    assert diff == []
