"""Sync behaviour that the mutation sample found unasserted (issue 19), against the simulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.sync import service
from magflow.sync.models import SyncKind, SyncLog, SyncMode
from magflow.sync.plan import ORDER_WINDOW
from magflow.sync.wiring import build_engine
from tests.support.simulation import Accounts, set_faults, sync


async def stored_offers(ctx: AppContext, account_id: int) -> dict[int, EmagOffer]:
    async with ctx.db.session() as session:
        rows = await session.execute(select(EmagOffer).where(EmagOffer.account_id == account_id))
        return {row.emag_id: row for row in rows.scalars()}


async def test_a_partial_offers_run_after_a_complete_one_marks_nothing_missing(
    make_ctx: Callable[..., AppContext], sim: SimulatorServer, accounts: Accounts
) -> None:
    """Offers a run could not read are not gone from eMAG: only a complete run may mark offers
    missing, even when an earlier complete run exists."""
    ctx = make_ctx(sync_round_backoff_seconds=0.05)
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    before = await stored_offers(ctx, accounts.main.id)
    assert len(before) == 230 and all(o.missing_since is None for o in before.values())

    await set_faults(sim, is_error=1.0, routes=["product_offer/read"])
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "partial"
    after = await stored_offers(ctx, accounts.main.id)
    assert sorted(after) == sorted(before)
    assert [o.emag_id for o in after.values() if o.missing_since is not None] == []


async def test_failed_items_of_a_partial_run_never_exceed_its_total(
    make_ctx: Callable[..., AppContext], sim: SimulatorServer, accounts: Accounts
) -> None:
    """230 offers in 3 pages, every page refused: 230 items failed (not 3 x 100)."""
    ctx = make_ctx(sync_round_backoff_seconds=0.05)
    await set_faults(sim, is_error=1.0, routes=["product_offer/read"])
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "partial"
    assert run.total_items == 230 and run.processed_items == 0
    assert run.failed_items == run.total_items - run.processed_items == 230


async def sync_since(ctx: AppContext, accounts: Accounts, since: datetime) -> SyncLog:
    """A full orders run of the MAIN account reading orders created since ``since``."""
    async with ctx.db.session() as session:
        run = await service.request_run(
            session,
            account_id=accounts.main.id,
            kind=SyncKind.orders,
            mode=SyncMode.full,
            trigger="test",
            requested_by=None,
            params={"since": since.isoformat()},
        )
    await build_engine(ctx).execute(run.id)
    async with ctx.db.session() as session:
        final = await session.get(SyncLog, run.id)
        assert final is not None
        return final


async def test_consecutive_order_windows_leave_no_gap(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """A full order sync reads in windows of at most 28 days (eMAG's limit: a month); the next
    window starts where the previous one stopped. ``since`` is chosen so that the boundary
    between the two windows falls one second before an order's creation: that order must be
    stored, as every order created since ``since``."""
    acc = sim.state.account("main")
    assert acc is not None
    created = list(acc.created)
    target = len(created) // 2  # about 25 days ago, of the 50 days of history
    boundary = datetime.fromtimestamp(created[target] - 1, UTC)
    since = boundary - ORDER_WINDOW  # window 1: [since, boundary], window 2: [boundary, now]
    assert boundary > datetime.now(UTC) - ORDER_WINDOW  # so there are exactly two windows

    run = await sync_since(ctx, accounts, since)
    assert run.status == "completed", run.errors
    expected = {acc.order_base + i for i, ts in enumerate(created) if ts >= int(since.timestamp())}
    async with ctx.db.session() as session:
        stored = set(
            (
                await session.execute(
                    select(EmagOrder.emag_id).where(EmagOrder.account_id == accounts.main.id)
                )
            ).scalars()
        )
    assert acc.order_base + target in stored
    assert stored == expected
