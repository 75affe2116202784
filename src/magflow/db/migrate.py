"""Alembic, driven from code so that migrations ship inside the package.

Migrations run on a synchronous engine: ``sqlite+aiosqlite`` becomes the standard ``sqlite``
driver and ``postgresql+psycopg`` is psycopg 3, which is sync and async at once.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from magflow.settings import private_sqlite_file, sqlite_path

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def sync_url(async_url: str) -> str:
    return async_url.replace("sqlite+aiosqlite://", "sqlite://", 1)


def alembic_config(async_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["sync_url"] = sync_url(async_url)
    return config


def upgrade(async_url: str, revision: str = "head") -> None:
    if async_url.startswith("sqlite"):
        path = sqlite_path(async_url)
        if path is not None:
            private_sqlite_file(path)  # 0600 in a 0700 directory when created here
            # WAL is kept in the file: switched on here, before any app connection, the app's
            # connections find it on (db/engine.py, _sqlite_pragmas) instead of racing to
            # switch a new file, which takes a lock that a busy timeout does not wait for
            # (two connections opened at once on a fresh file: "database is locked" in CI).
            with contextlib.closing(sqlite3.connect(path)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
    command.upgrade(alembic_config(async_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(async_url: str) -> str | None:
    engine = create_engine(sync_url(async_url))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
