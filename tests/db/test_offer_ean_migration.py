"""Migration 0007 fills ``ean_search`` for offers stored before it, from their raw payloads."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from magflow.db.migrate import sync_url, upgrade
from magflow.settings import normalize_database_url

PG_URL = os.environ.get("MAGFLOW_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the migration is run on it from 0005)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
        return
    if PG_URL is None:
        pytest.skip("PostgreSQL not configured: set MAGFLOW_TEST_DATABASE_URL")
    admin = make_url(normalize_database_url(PG_URL))
    name = f"{admin.database}_ean_{os.getpid()}_{secrets.token_hex(3)}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _filler(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer | sa.Numeric):
        return 1
    if isinstance(kind, sa.DateTime):
        return datetime.now(UTC)
    if isinstance(kind, sa.LargeBinary):
        return b"x"
    if isinstance(kind, sa.JSON) or "JSON" in type(kind).__name__.upper():
        return {}
    return "x"


def _row(table: sa.Table, **values: Any) -> dict[str, Any]:
    """``values`` plus something for every other required column."""
    row = dict(values)
    for column in table.columns:
        required = not column.nullable and column.server_default is None
        if required and column.name not in row and not column.primary_key:
            row[column.name] = _filler(column)
    return row


def test_existing_offers_get_their_eans_searchable(fresh_url: str) -> None:
    upgrade(fresh_url, "0005")
    engine = sa.create_engine(sync_url(fresh_url))
    try:
        with engine.begin() as conn:
            meta = sa.MetaData()
            accounts = sa.Table("emag_accounts", meta, autoload_with=conn)
            offers = sa.Table("emag_products_v2", meta, autoload_with=conn)
            account_id = conn.execute(
                accounts.insert().values(_row(accounts, name="shop", platform="ro"))
            ).inserted_primary_key[0]
            payloads: list[tuple[Any, Any]] = [
                ({"id": 1, "ean": ["5941234567890"]}, ["5941234567890"]),
                ({"id": 2, "ean": ["5941234567906", " 5941234567913 "]}, None),
                ({"id": 3}, ["4006381333931"]),  # no EAN in the payload: the column's
                ({"id": 4, "ean": []}, []),
            ]
            for emag_id, (raw, ean) in enumerate(payloads, start=1):
                conn.execute(
                    offers.insert().values(
                        _row(offers, account_id=account_id, emag_id=emag_id, raw=raw, ean=ean)
                    )
                )
        upgrade(fresh_url)
        with engine.connect() as conn:
            found = dict(
                conn.execute(
                    sa.text("SELECT emag_id, ean_search FROM emag_products_v2 ORDER BY emag_id")
                ).all()
            )
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("emag_products_v2")}
    finally:
        engine.dispose()
    assert found == {
        1: "5941234567890",
        2: "5941234567906 5941234567913",
        3: "4006381333931",
        4: None,
    }
    assert "ix_emag_products_v2_ean_search" in indexes
