"""Test backends and a clean database per test.

Every test that asks for ``settings`` runs once per backend:
- ``sqlite``: SQLite file and the in-process backends; always.
- ``postgresql``: PostgreSQL, plus Redis when ``MAGFLOW_TEST_REDIS_URL`` is set; only when
  ``MAGFLOW_TEST_DATABASE_URL`` is set (CI sets both). The test id names the backend.

SQLite: the schema is migrated once into a template file that each test copies. PostgreSQL: a
database of its own is created for the session and migrated once; each test truncates every table.
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from magflow.context import AppContext
from magflow.db.migrate import head_revision, upgrade
from magflow.db.models import Base
from magflow.settings import Settings, normalize_database_url

pytest_plugins = ["tests.support.simulation"]

PG_URL = os.environ.get("MAGFLOW_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MAGFLOW_TEST_REDIS_URL")


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    redis_url: str | None


def pytest_report_header() -> list[str]:
    return [
        "magflow backends: sqlite+memory"
        + (f", postgresql{'+redis' if REDIS_URL else ''}" if PG_URL else "")
        + ("" if PG_URL else " (set MAGFLOW_TEST_DATABASE_URL to add PostgreSQL)")
    ]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    assert PG_URL is not None
    admin_url = make_url(normalize_database_url(PG_URL))
    name = f"{admin_url.database}_magflow_{os.getpid()}_{secrets.token_hex(3)}"
    conninfo = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_pg(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        # A test may have moved the revision (the health check's "behind" case).
        conn.execute("UPDATE alembic_version SET version_num = %s", (head_revision(),))


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        path = tmp_path / "magflow.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return Backend("sqlite", f"sqlite+aiosqlite:///{path}", None)
    if PG_URL is None:
        pytest.skip("PostgreSQL not configured: set MAGFLOW_TEST_DATABASE_URL")
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return Backend("postgresql", url, REDIS_URL)


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=tmp_path / "var",
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        redis_prefix=f"magflow-test-{uuid.uuid4().hex[:12]}",
        secret_key=secrets.token_urlsafe(32),
        migrate_on_start=False,
        schedules_enabled=False,
    )


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = AppContext.build(settings)
    yield context
    if context.redis is not None:
        keys = [key async for key in context.redis.scan_iter(f"{settings.redis_prefix}:*")]
        if keys:
            await context.redis.delete(*keys)
    await context.close()


@pytest.fixture
def api(settings: Settings) -> Iterator[str]:
    """The app under uvicorn on a loopback port; yields its base URL."""
    from magflow.app import create_app
    from tests.support.servers import UvicornThread

    with UvicornThread(create_app(settings)) as server:
        yield server.url
