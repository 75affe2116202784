"""Syncs against a simulator that is no friendlier than real eMAG (issue 13): offers read without
``stock[]`` (docs/emag-protocol.md, "Offers") and order filters limited to one month between two
date bounds (docs/emag-protocol.md, "Paging, counts and filters")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import select

from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind, SyncMode
from magflow.sync.plan import ORDER_WINDOW, Plan
from tests.support.simulation import Accounts, read_everything, sync

BUCHAREST = ZoneInfo("Europe/Bucharest")


async def test_offers_read_without_stock_list_are_stored_with_their_general_stock(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "completed", run.errors
    read = await read_everything(ctx, accounts.main, SyncKind.offers)
    without = {i for i, raw in read.items() if "stock" not in raw}
    with_list = set(read) - without
    assert without and with_list  # the simulator serves both shapes
    assert all("general_stock" in raw for raw in read.values())
    async with ctx.db.session() as session:
        rows = {
            row.emag_id: row
            for row in (
                await session.execute(
                    select(EmagOffer).where(EmagOffer.account_id == accounts.main.id)
                )
            ).scalars()
        }
    assert set(rows) == set(read)
    for emag_id in without:
        assert rows[emag_id].stock_total == int(read[emag_id]["general_stock"]), emag_id
    for emag_id in with_list:
        listed = sum(int(s["value"]) for s in read[emag_id]["stock"])
        assert rows[emag_id].stock_total == listed, emag_id
    # Offers in stock without a list are not all shown as out of stock (the bug this fixes).
    assert any(rows[emag_id].stock_total > 0 for emag_id in without)


async def test_a_90_day_order_sync_reads_in_windows_of_at_most_28_days(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """The default full order sync covers 90 days: four windows of at most 28 days, which the
    simulator would refuse if longer than a month, and every order read."""
    assert timedelta(days=28) == ORDER_WINDOW
    run = await sync(ctx, accounts.main, SyncKind.orders)
    assert run.status == "completed", run.errors
    assert run.checkpoint is not None
    plan = Plan.from_json(run.checkpoint)

    def instant(local: str) -> datetime:
        """A filter bound (platform-local wall time) as an instant, so DST does not skew."""
        return datetime.fromisoformat(local).replace(tzinfo=BUCHAREST).astimezone(UTC)

    # both order types on a MAIN account too, each in the same windows
    assert [s.filters["type"] for s in plan.segments] == [3] * 4 + [2] * 4
    windows = [
        (instant(s.filters["createdAfter"]), instant(s.filters["createdBefore"]))
        for s in plan.segments[:4]
    ]
    assert len(windows) == 4
    assert all(stop - start <= ORDER_WINDOW for start, stop in windows)
    assert (windows[-1][1] - windows[0][0]) >= timedelta(days=90) - timedelta(minutes=1)
    assert all(a[1] == b[0] for a, b in pairwise(windows))
    expected = await read_everything(ctx, accounts.main, SyncKind.orders)
    async with ctx.db.session() as session:
        stored = set(
            (
                await session.execute(
                    select(EmagOrder.emag_id).where(EmagOrder.account_id == accounts.main.id)
                )
            ).scalars()
        )
    assert expected and stored == set(expected)
    assert run.processed_items == len(expected)


async def test_an_incremental_order_sync_sends_both_date_bounds(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """eMAG takes an order date bound only with its pair (docs/emag-protocol.md, "Paging, counts
    and filters"), and the simulator refuses a lone one: every segment of an incremental run
    carries ``modifiedAfter`` and ``modifiedBefore``, and the run completes."""
    run = await sync(ctx, accounts.main, SyncKind.orders, SyncMode.incremental)
    assert run.status == "completed", run.errors
    assert run.checkpoint is not None
    segments = Plan.from_json(run.checkpoint).segments
    assert segments
    for segment in segments:
        assert segment.filters.get("modifiedAfter") and segment.filters.get("modifiedBefore")
        assert "createdAfter" not in segment.filters and "createdBefore" not in segment.filters
