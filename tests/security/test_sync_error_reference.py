"""A sync that crashes on an internal error shows users a short message and a reference id,
never the database's error text (which quotes SQL and other customers' data); the server log
has the detail under that reference."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import text

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.sync.models import SyncKind, SyncMode
from tests.factories import make_user
from tests.support.auth import auth_headers
from tests.support.simulation import Accounts, sync


async def _rename(ctx: AppContext, old: str, new: str) -> None:
    async with ctx.db.session() as session:
        await session.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
        await session.commit()


async def test_internal_errors_are_shown_as_a_reference(
    ctx: AppContext, api: str, accounts: Accounts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="magflow.sync.service")
    # The customers table goes missing: writing the first page of orders fails in the database.
    await _rename(ctx, "emag_customers", "emag_customers_away")
    try:
        run = await sync(ctx, accounts.main, SyncKind.orders, SyncMode.full)
    finally:
        await _rename(ctx, "emag_customers_away", "emag_customers")
    assert run.status == "failed"
    error = run.errors[-1]
    assert error["kind"] == "internal"
    reference = error["reference"]
    assert error["message"].startswith(f"internal error (reference {reference})")
    viewer = await make_user(ctx, role=Role.viewer)
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, viewer.email)
        shown = await client.get(f"/api/v1/emag/sync-logs/{run.id}", headers=headers)
    assert shown.status_code == 200
    for leak in ("emag_customers", "INSERT", "SELECT", "sqlite3", "psycopg", "Error:"):
        assert leak not in shown.text, leak
    assert reference in shown.text
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "emag_customers" in str(logged[0].exc_info[1])
