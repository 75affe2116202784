"""Simulator fixtures and helpers: the engine against the simulator over HTTP on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from magflow.accounts.models import AccountType, EmagAccount
from magflow.accounts.service import AccountCredentials, credentials
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.customers.models import EmagCustomer
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.settings import Settings
from magflow.sync import service
from magflow.sync.models import SyncKind, SyncLog, SyncMode
from magflow.sync.wiring import build_engine
from tests.factories import make_account


@pytest.fixture
def sim_config() -> SimConfig:
    tag = uuid.uuid4().hex[:8]  # own usernames: own rate-limit budget per test
    return SimConfig(
        seed=11,
        offers=230,
        orders=260,
        history_days=50,
        accounts=[
            SimAccount(
                name="main",
                account_type="main",
                username=f"main-{tag}",
                password="main-sim-pw-7c41e2",
            ),
            SimAccount(
                name="fbe", account_type="fbe", username=f"fbe-{tag}", password="fbe-sim-pw-2d98b0"
            ),
        ],
    )


@pytest.fixture
def sim(sim_config: SimConfig) -> Iterator[SimulatorServer]:
    with SimulatorServer(sim_config) as server:
        yield server


@dataclass
class Accounts:
    main: EmagAccount
    fbe: EmagAccount


@pytest.fixture
async def accounts(ctx: AppContext, sim: SimulatorServer) -> Accounts:
    made = {}
    for sim_account in sim.accounts:
        made[sim_account.name] = await make_account(
            ctx,
            name=sim_account.name,
            account_type=AccountType(sim_account.account_type),
            username=sim_account.username,
            password=sim_account.password,
            base_url=sim.base_url,
        )
    return Accounts(main=made["main"], fbe=made["fbe"])


async def sync(
    ctx: AppContext, account: EmagAccount, kind: SyncKind, mode: SyncMode = SyncMode.full
) -> SyncLog:
    """Queue and execute one run in this process; return the finished run."""
    async with ctx.db.session() as session:
        run = await service.request_run(
            session, account_id=account.id, kind=kind, mode=mode, trigger="test", requested_by=None
        )
    await build_engine(ctx).execute(run.id)
    async with ctx.db.session() as session:
        final = await session.get(SyncLog, run.id)
        assert final is not None
        return final


def creds(ctx: AppContext, account: EmagAccount) -> AccountCredentials:
    return credentials(ctx.cipher, account)


async def read_everything(ctx: AppContext, account: EmagAccount, kind: SyncKind) -> dict[int, Any]:
    """The simulator's data for the account, read page by page through the client."""
    async with ctx.emag_client(creds(ctx, account)) as client:
        resource = "product_offer" if kind is SyncKind.offers else "order"
        filter_sets: list[dict[str, Any]] = [{}]
        if kind is SyncKind.orders:
            filter_sets = [{"type": 3}, {"type": 2}]  # every account holds both types
        found: dict[int, Any] = {}
        for filters in filter_sets:
            page = 1
            while rows := await client.read_rows(resource, filters, page, 100):
                found.update({int(row["id"]): row for row in rows})
                page += 1
        return found


async def snapshot(ctx: AppContext) -> dict[str, Any]:
    """Everything a sync writes, minus bookkeeping that legitimately changes between runs."""
    async with ctx.db.session() as session:
        offers = {
            (o.account_id, o.emag_id): (o.raw, o.sale_price, o.stock_total, o.missing_since)
            for o in (await session.execute(select(EmagOffer))).scalars()
        }
        orders = {
            (o.account_id, o.emag_id): (
                o.raw,
                o.status,
                o.total_with_vat,
                o.customer_key,
                o.status_history,
            )
            for o in (await session.execute(select(EmagOrder))).scalars()
        }
        customers = {
            c.customer_key: (
                c.orders_count,
                c.total_spent,
                c.cancelled_count,
                c.returned_count,
                c.main_orders,
                c.fbe_orders,
                c.first_order_at,
                c.last_order_at,
            )
            for c in (await session.execute(select(EmagCustomer))).scalars()
        }
    return {"offers": offers, "orders": orders, "customers": customers}


@pytest.fixture
async def make_ctx(settings: Settings) -> AsyncIterator[Callable[..., AppContext]]:
    """Another context on the same database with some settings changed."""
    made: list[AppContext] = []

    def build(**changes: Any) -> AppContext:
        made.append(AppContext.build(settings.model_copy(update=changes)))
        return made[-1]

    yield build
    for context in made:
        await context.close()


async def set_faults(sim: SimulatorServer, **faults: Any) -> None:
    async with httpx.AsyncClient(base_url=sim.root_url) as control:
        response = await control.post("/_sim/faults", json={"replace": True, **faults})
        assert response.status_code == 200, response.text
