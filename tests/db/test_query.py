"""The listings' query helpers (magflow.db.query)."""

from __future__ import annotations

from magflow.context import AppContext
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
