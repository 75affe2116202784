"""A bad answer never wipes the catalog (issue 13): page 1 is read whatever eMAG's count says,
offers are marked missing only after a run that read all eMAG counted, and never more than
``MAGFLOW_MISSING_GUARD_SHARE`` of an account's offers without an operator's confirmation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from magflow.accounts.service import AccountCredentials
from magflow.audit.models import AuditLog
from magflow.auth.models import Role
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag.schemas import CountResult
from magflow.emag_sim import SimulatorServer
from magflow.settings import Settings
from magflow.sync import service
from magflow.sync.engine import EmagSource, SyncEngine, judge_missing
from magflow.sync.models import SyncKind, SyncLog, SyncMode
from magflow.sync.wiring import build_engine
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers
from tests.support.simulation import Accounts, set_faults, sync

GHOST_BASE = 900_000


async def add_ghosts(ctx: AppContext, account_id: int, count: int) -> set[int]:
    """Offers stored earlier that eMAG no longer returns; their eMAG ids."""
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        for i in range(count):
            session.add(
                EmagOffer(account_id=account_id, emag_id=GHOST_BASE + i, raw={}, last_seen_at=now)
            )
        await session.commit()
    return {GHOST_BASE + i for i in range(count)}


async def missing_ids(ctx: AppContext, account_id: int) -> set[int]:
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(EmagOffer.emag_id).where(
                EmagOffer.account_id == account_id, EmagOffer.missing_since.is_not(None)
            )
        )
        return set(rows.scalars())


async def present_ids(ctx: AppContext, account_id: int) -> set[int]:
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(EmagOffer.emag_id).where(
                EmagOffer.account_id == account_id, EmagOffer.missing_since.is_(None)
            )
        )
        return set(rows.scalars())


def test_judge_missing_marks_only_what_a_whole_read_shows_gone() -> None:
    judge = judge_missing
    assert judge(unseen=0, seen=0, counted=None, present=0, share=0.2).mark
    assert judge(unseen=20, seen=80, counted=80, present=100, share=0.2).mark  # exactly 20 %
    share = judge(unseen=21, seen=79, counted=79, present=100, share=0.2)
    assert (share.mark, share.reason) == (False, "share")
    assert share.message is not None and "21 of the account's 100 offers (21.0 %)" in share.message
    short = judge(unseen=1, seen=99, counted=100, present=100, share=0.2)
    assert (short.mark, short.reason) == (False, "count_short")
    assert judge(unseen=1, seen=100, counted=100, present=101, share=0.2).mark
    unknown = judge(unseen=1, seen=100, counted=None, present=101, share=0.2)
    assert (unknown.mark, unknown.reason) == (False, "count_unknown")
    assert judge(unseen=1, seen=100, counted=0, present=101, share=0.2).mark
    assert judge(unseen=100, seen=0, counted=0, present=100, share=1.0).mark  # guard off


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("count_zero", None),
        ("count_unparseable", "count_unknown"),
        ("count_missing", "count_unknown"),
    ],
)
async def test_a_bad_count_still_reads_every_offer(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, fault: str, reason: str | None
) -> None:
    """eMAG's count answers 0, something that is not a number, or nothing: the run still reads
    page 1 and on to the end. A count of 0 proves nothing missing was skipped (every offer read
    is at least 0), so the one offer eMAG no longer returns is marked; a count that cannot be read
    proves nothing, so it is withheld with a warning."""
    ghost = await add_ghosts(ctx, accounts.main.id, 1)
    await set_faults(sim, **{fault: 1.0})
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "completed", run.errors
    assert run.processed_items == run.total_items == 230
    assert len(await present_ids(ctx, accounts.main.id) - ghost) == 230
    if reason is None:
        assert await missing_ids(ctx, accounts.main.id) == ghost
        assert run.warning is None
    else:
        assert await missing_ids(ctx, accounts.main.id) == set()
        assert run.warning is not None
        assert (run.warning["reason"], run.warning["withheld"], run.warning["counted"]) == (
            reason,
            1,
            None,
        )


class _CountsTooMany:
    """The simulator's answers, with a count 10 above what its pages hold (offers deleted while
    the run read, or a count eMAG got wrong)."""

    def __init__(self, inner: EmagSource) -> None:
        self.inner = inner
        self.stats = inner.stats

    async def count(self, resource: str, filters: dict[str, Any]) -> CountResult:
        counted = await self.inner.count(resource, filters)
        return CountResult(no_of_items=(counted.no_of_items or 0) + 10)

    async def read_rows(
        self, resource: str, filters: dict[str, Any], page: int, items_per_page: int
    ) -> list[dict[str, Any]]:
        return await self.inner.read_rows(resource, filters, page, items_per_page)

    async def vat_rates(self) -> dict[int, Decimal]:
        return await self.inner.vat_rates()


async def test_fewer_offers_than_counted_withholds_missing(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    @asynccontextmanager
    async def source(credentials: AccountCredentials) -> AsyncIterator[EmagSource]:
        async with ctx.emag_client(credentials) as client:
            yield _CountsTooMany(client)

    ghost = await add_ghosts(ctx, accounts.main.id, 1)
    async with ctx.db.session() as session:
        queued = await service.request_run(
            session,
            account_id=accounts.main.id,
            kind=SyncKind.offers,
            mode=SyncMode.full,
            trigger="test",
            requested_by=None,
        )
    assert await SyncEngine(ctx, source).execute(queued.id) == "completed"
    async with ctx.db.session() as session:
        run = await session.get(SyncLog, queued.id)
    assert run is not None and run.warning is not None
    assert (run.warning["reason"], run.warning["seen"], run.warning["counted"]) == (
        "count_short",
        230,
        240,
    )
    assert await missing_ids(ctx, accounts.main.id) == set()
    assert ghost <= await present_ids(ctx, accounts.main.id)


class _Killed(BaseException):
    """The process dying: nothing in the engine catches it, the run stays ``running``."""


class _DiesOnPage3:
    def __init__(self, inner: EmagSource) -> None:
        self.inner = inner
        self.stats = inner.stats

    async def count(self, resource: str, filters: dict[str, Any]) -> CountResult:
        return await self.inner.count(resource, filters)

    async def read_rows(
        self, resource: str, filters: dict[str, Any], page: int, items_per_page: int
    ) -> list[dict[str, Any]]:
        if page == 3:
            raise _Killed
        return await self.inner.read_rows(resource, filters, page, items_per_page)

    async def vat_rates(self) -> dict[int, Decimal]:
        return await self.inner.vat_rates()


async def test_a_resumed_run_judges_missing_offers_by_the_first_attempts_count(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """The count read before the crash is kept in the checkpoint: the resumed run, which does not
    count again, still knows eMAG counted 230, and marks the vanished offer as an uninterrupted
    run does."""

    @asynccontextmanager
    async def dying(credentials: AccountCredentials) -> AsyncIterator[EmagSource]:
        async with ctx.emag_client(credentials) as client:
            yield _DiesOnPage3(client)

    ghost = await add_ghosts(ctx, accounts.main.id, 1)
    async with ctx.db.session() as session:
        queued = await service.request_run(
            session,
            account_id=accounts.main.id,
            kind=SyncKind.offers,
            mode=SyncMode.full,
            trigger="test",
            requested_by=None,
        )
    with pytest.raises(_Killed):
        await SyncEngine(ctx, dying).execute(queued.id)
    async with ctx.db.session() as session:
        killed = await session.get(SyncLog, queued.id)
        assert killed is not None and killed.status == "running"
    assert await missing_ids(ctx, accounts.main.id) == set()

    assert await build_engine(ctx).execute(queued.id) == "completed"
    async with ctx.db.session() as session:
        run = await session.get(SyncLog, queued.id)
    assert run is not None and run.warning is None
    assert run.processed_items == 230
    assert await missing_ids(ctx, accounts.main.id) == ghost


async def test_more_than_the_share_waits_for_an_operator(
    ctx: AppContext, api: str, settings: Settings, sim: SimulatorServer, accounts: Accounts
) -> None:
    """70 of 300 offers gone (23 %, above the default 20 %): nothing is marked, the run and the
    enhanced status say so; a newer complete run supersedes the older warning; the operator's
    confirmation marks exactly the withheld offers, once, and is audited."""
    ghosts = await add_ghosts(ctx, accounts.main.id, 70)
    first = await sync(ctx, accounts.main, SyncKind.offers)
    second = await sync(ctx, accounts.main, SyncKind.offers)
    for run in (first, second):
        assert run.status == "completed"
        assert run.warning is not None
        assert (run.warning["reason"], run.warning["withheld"]) == ("share", 70)
    assert await missing_ids(ctx, accounts.main.id) == set()

    operator = await make_user(ctx, role=Role.operator)
    viewer = await make_user(ctx, role=Role.viewer)
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        as_operator = await auth_headers(client, operator.email)
        as_viewer = await auth_headers(client, viewer.email)
        status = (await client.get("/api/v1/emag/enhanced/status", headers=as_operator)).json()
        main = next(a for a in status["accounts"] if a["name"] == "main")
        assert main["health"]["status"] == "warning"
        reason = next(r for r in main["health"]["reasons"] if r["factor"] == "missing_withheld")
        assert f"offers run {second.id}" in reason["message"] and "70 of" in reason["message"]
        assert "70 of" in main["syncs"]["offers"]["last_success"]["warning"]

        path = "/api/v1/emag/enhanced/sync/{}/confirm-missing"
        refused = await client.post(path.format(second.id), headers=as_viewer)
        assert refused.status_code == 403
        stale = await client.post(path.format(first.id), headers=as_operator)
        assert stale.status_code == 409 and f"run {second.id}" in stale.json()["detail"]
        nothing = await client.post(path.format(424242), headers=as_operator)
        assert nothing.status_code == 404

        confirmed = await client.post(path.format(second.id), headers=as_operator)
        assert confirmed.status_code == 200, confirmed.text
        body = confirmed.json()
        assert (body["marked"], body["already_confirmed"]) == (70, False)
        assert body["run"]["missing_confirmed_by"] == operator.email
        assert await missing_ids(ctx, accounts.main.id) == ghosts
        assert len(await present_ids(ctx, accounts.main.id)) == 230

        status = (await client.get("/api/v1/emag/enhanced/status", headers=as_operator)).json()
        main = next(a for a in status["accounts"] if a["name"] == "main")
        assert all(r["factor"] != "missing_withheld" for r in main["health"]["reasons"])

        again = await client.post(path.format(second.id), headers=as_operator)
        assert (again.json()["marked"], again.json()["already_confirmed"]) == (0, True)

    async with ctx.db.session() as session:
        audit = (
            (
                await session.execute(
                    select(AuditLog).where(AuditLog.action == "sync.confirm_missing")
                )
            )
            .scalars()
            .all()
        )
    assert [(a.user_email, a.target, a.messages) for a in audit] == [
        (operator.email, f"run {second.id}", ["70 offers marked missing"])
    ]


async def _withheld_run(settings: Settings) -> tuple[int, int]:
    """A completed offers run that withheld two of three stored offers; (run id, account id)."""
    ctx = AppContext.build(settings)
    try:
        account = await make_account(ctx, name="shop")
        ghosts = await add_ghosts(ctx, account.id, 3)
        async with ctx.db.session() as session:
            offers = (
                await session.execute(
                    select(EmagOffer).where(EmagOffer.emag_id.in_(ghosts)).order_by(EmagOffer.id)
                )
            ).scalars()
            withheld = [offer.id for offer in offers][:2]
            run = SyncLog(
                account_id=account.id,
                kind="offers",
                mode="full",
                status="completed",
                errors=[],
                warning={"code": "missing_withheld", "reason": "share", "message": "2 of 3"},
                withheld_offer_ids=withheld,
            )
            session.add(run)
            await session.commit()
            return run.id, account.id
    finally:
        await ctx.close()


async def _missing(settings: Settings, account_id: int) -> set[int]:
    ctx = AppContext.build(settings)
    try:
        return await missing_ids(ctx, account_id)
    finally:
        await ctx.close()


def test_the_command_line_confirms_withheld_offers_once(settings: Settings) -> None:
    from typer.testing import CliRunner

    from magflow.cli import app

    run_id, account_id = asyncio.run(_withheld_run(settings))
    env = {
        "MAGFLOW_DATABASE_URL": settings.database_url,
        "MAGFLOW_VAR_DIR": str(settings.var_dir),
        "MAGFLOW_SECRET_KEY": settings.resolved_secret_key(),
        "MAGFLOW_REDIS_URL": settings.redis_url or "",
        "MAGFLOW_REDIS_PREFIX": settings.redis_prefix,
        "COLUMNS": "200",
    }
    runner = CliRunner()
    first = runner.invoke(app, ["sync", "confirm-missing", str(run_id)], env=env)
    assert first.exit_code == 0, first.output
    assert f"run {run_id}: 2 offers marked missing" in first.output
    assert asyncio.run(_missing(settings, account_id)) == {GHOST_BASE, GHOST_BASE + 1}
    again = runner.invoke(app, ["sync", "confirm-missing", str(run_id)], env=env)
    assert again.exit_code == 0 and "already confirmed (cli): nothing changed" in again.output
    unknown = runner.invoke(app, ["sync", "confirm-missing", "424242"], env=env)
    assert unknown.exit_code == 1 and "no sync run 424242" in unknown.output
