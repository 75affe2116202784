from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from magflow.accounts.service import AccountCredentials
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.customers.models import EmagCustomer
from magflow.emag.codes import OrderStatus
from magflow.emag.schemas import CountResult
from magflow.emag_sim import SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.sync import service
from magflow.sync.engine import EmagSource, EngineOptions, SyncEngine
from magflow.sync.models import SyncKind, SyncMode
from tests.support.simulation import Accounts, read_everything, snapshot, sync

#: Orders whose total is not spent by the customer.
UNSPENT = (OrderStatus.CANCELLED, OrderStatus.RETURNED)


async def test_full_offer_sync_stores_exactly_the_simulators_offers(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "completed", run.errors
    expected = await read_everything(ctx, accounts.main, SyncKind.offers)
    assert run.total_items == len(expected) == 230
    assert (run.processed_items, run.created_items, run.updated_items) == (230, 230, 0)
    assert run.current_page == run.total_pages == 3
    assert run.api_calls >= 5  # vat/read, count, 3 pages
    async with ctx.db.session() as session:
        rows = (
            (
                await session.execute(
                    select(EmagOffer).where(EmagOffer.account_id == accounts.main.id)
                )
            )
            .scalars()
            .all()
        )
    assert {row.emag_id: row.raw for row in rows} == expected
    sample = rows[0]
    assert sample.sale_price == Decimal(str(expected[sample.emag_id]["sale_price"]))
    assert sample.currency == "RON"
    assert sample.sale_price_with_vat is not None


async def test_offers_that_vanish_are_marked_not_deleted(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    # An offer we stored earlier that eMAG no longer returns.
    async with ctx.db.session() as session:
        kept = (
            await session.execute(
                select(EmagOffer).where(
                    EmagOffer.account_id == accounts.main.id, EmagOffer.emag_id == 5
                )
            )
        ).scalar_one()
        ghost = EmagOffer(
            account_id=accounts.main.id, emag_id=999_999, raw={}, last_seen_at=kept.last_seen_at
        )
        session.add(ghost)
        await session.commit()
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    async with ctx.db.session() as session:
        rows = {
            row.emag_id: row
            for row in (
                await session.execute(
                    select(EmagOffer).where(EmagOffer.account_id == accounts.main.id)
                )
            ).scalars()
        }
    assert rows[999_999].missing_since is not None
    assert rows[5].missing_since is None
    assert len(rows) == 231


async def test_full_then_incremental_order_sync_matches_the_simulator(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    for account in (accounts.main, accounts.fbe):
        run = await sync(ctx, account, SyncKind.orders, SyncMode.full)
        assert run.status == "completed", run.errors
        assert run.watermark is not None

    async with httpx.AsyncClient(base_url=sim.root_url) as control:
        created = (
            await control.post(
                f"/_sim/accounts/{accounts.main.username}/orders/new", json={"count": 7}
            )
        ).json()["created"]
        modified = (
            await control.post(
                f"/_sim/accounts/{accounts.fbe.username}/orders/modify", json={"count": 9}
            )
        ).json()["modified"]
    assert len(created) == 7 and len(modified) == 9

    incremental = [
        await sync(ctx, account, SyncKind.orders, SyncMode.incremental)
        for account in (accounts.main, accounts.fbe)
    ]
    assert all(run.status == "completed" for run in incremental), [r.errors for r in incremental]
    # Incremental runs read only what changed (plus the overlap), not everything again.
    assert incremental[0].created_items == 7
    assert incremental[0].processed_items < 260
    assert incremental[1].updated_items >= 9

    async with ctx.db.session() as session:
        stored = (await session.execute(select(EmagOrder))).scalars().all()
    for account in (accounts.main, accounts.fbe):
        expected = await read_everything(ctx, account, SyncKind.orders)
        mine = {o.emag_id: o.raw for o in stored if o.account_id == account.id}
        assert mine == expected
    types = Counter(o.order_type for o in stored if o.account_id == accounts.fbe.id)
    assert types[2] > 0 and types[3] > 0  # FBE accounts read both types

    # Customers equal a recomputation from the stored orders.
    expected_customers: dict[str, tuple[int, Decimal]] = {}
    for order in stored:
        if order.customer_key is None:
            continue
        count, spent = expected_customers.get(order.customer_key, (0, Decimal(0)))
        paid = order.total_with_vat if order.status not in UNSPENT else Decimal(0)
        expected_customers[order.customer_key] = (count + 1, spent + (paid or 0))
    async with ctx.db.session() as session:
        customers = {
            c.customer_key: (c.orders_count, c.total_spent)
            for c in (await session.execute(select(EmagCustomer))).scalars()
        }
    assert customers == expected_customers
    async with ctx.db.session() as session:
        mixed = (
            (
                await session.execute(
                    select(EmagCustomer).where(
                        EmagCustomer.main_orders > 0, EmagCustomer.fbe_orders > 0
                    )
                )
            )
            .scalars()
            .all()
        )
    assert mixed, "the simulator shares customers between MAIN and FBE"


async def test_rerunning_a_completed_sync_changes_nothing(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    await sync(ctx, accounts.fbe, SyncKind.orders, SyncMode.full)
    await sync(ctx, accounts.fbe, SyncKind.offers)
    before = await snapshot(ctx)
    again = await sync(ctx, accounts.fbe, SyncKind.orders, SyncMode.full)
    await sync(ctx, accounts.fbe, SyncKind.offers)
    assert again.created_items == 0
    assert await snapshot(ctx) == before


async def test_a_count_that_fills_whole_pages_still_ends_at_100_percent(ctx: AppContext) -> None:
    from magflow.emag_sim import SimAccount, SimConfig
    from magflow.sync.service import progress_view
    from tests.factories import make_account

    config = SimConfig(
        seed=4,
        offers=200,
        orders=0,
        accounts=[SimAccount(name="even", username="even-pages", password="even-pw-1")],
    )
    with SimulatorServer(config) as server:
        account = await make_account(
            ctx, username="even-pages", password="even-pw-1", base_url=server.base_url
        )
        run = await sync(ctx, account, SyncKind.offers)
    assert run.status == "completed"
    # Two full pages, so the engine reads a third (new offers may have arrived) and finds it empty.
    assert run.current_page == run.total_pages == 3
    assert run.processed_items == run.total_items == 200
    assert progress_view(run)["percentage"] == 100.0


class _OverlappingSource:
    """The simulator's pages, each repeating the first row of the next one, as eMAG's offset
    pagination does when orders arrive during a read. Every page is read at ``count`` and then
    handed out at once, so pages pile up for the writers: batches and concurrent writes happen
    on every run, with the repeated rows split between writes in flight."""

    def __init__(self, inner: EmagSource) -> None:
        self.inner = inner
        self.pages: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.stats = inner.stats

    async def count(self, resource: str, filters: dict[str, Any]) -> CountResult:
        counted = await self.inner.count(resource, filters)
        for page in range(1, (counted.pages(100) or 0) + 2):
            self.pages[repr(filters), page] = await self.inner.read_rows(
                resource, filters, page, 100
            )
        return counted

    async def read_rows(
        self, resource: str, filters: dict[str, Any], page: int, items_per_page: int
    ) -> list[dict[str, Any]]:
        following = self.pages.get((repr(filters), page + 1), [])
        return self.pages.get((repr(filters), page), []) + following[:1]

    async def vat_rates(self) -> dict[int, Decimal]:
        return await self.inner.vat_rates()


@pytest.mark.slow
async def test_batched_concurrent_writes_of_overlapping_pages_count_each_order_once(
    ctx: AppContext,
) -> None:
    from magflow.emag_sim import SimAccount, SimConfig
    from tests.factories import make_account

    config = SimConfig(
        seed=5,
        orders=2400,
        history_days=20,  # one window: many pages per read
        accounts=[SimAccount(name="busy", username="busy-pages", password="busy-pw-1")],
    )

    @asynccontextmanager
    async def overlapping(credentials: AccountCredentials) -> AsyncIterator[EmagSource]:
        async with ctx.emag_client(credentials) as client:
            yield _OverlappingSource(client)

    # SQLite takes one writer at a time (the wiring never gives it more); batches still apply.
    options = EngineOptions(writers=1 if ctx.settings.is_sqlite else 3, pages_per_write=4)
    engine = SyncEngine(ctx, overlapping, options=options)
    with SimulatorServer(config) as server:
        account = await make_account(
            ctx, username="busy-pages", password="busy-pw-1", base_url=server.base_url
        )
        expected = await read_everything(ctx, account, SyncKind.orders)
        for _ in range(2):  # the second run rewrites every order: nothing may move
            async with ctx.db.session() as session:
                run = await service.request_run(
                    session,
                    account_id=account.id,
                    kind=SyncKind.orders,
                    mode=SyncMode.full,
                    trigger="test",
                    requested_by=None,
                )
            assert await engine.execute(run.id) == "completed"
            state = await snapshot(ctx)
            assert {key[1]: value[0] for key, value in state["orders"].items()} == expected
            recomputed: dict[str, tuple[int, Decimal]] = {}
            for _, status, total, key, _ in state["orders"].values():
                if key is not None:
                    count, spent = recomputed.get(key, (0, Decimal(0)))
                    paid = total if status not in UNSPENT else Decimal(0)
                    recomputed[key] = (count + 1, spent + (paid or 0))
            assert {k: v[:2] for k, v in state["customers"].items()} == recomputed
