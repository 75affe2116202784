"""A FashionDays BG account synced against a FashionDays BG simulator (issue 13, point 9): the same
API on another host, EUR like eMAG BG (docs/emag-protocol.md, "Hosts and platforms")."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from magflow.accounts.models import AccountType
from magflow.accounts.schemas import PlatformCode
from magflow.context import AppContext
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from tests.factories import make_account
from tests.support.simulation import sync


@pytest.fixture
def sim_config() -> SimConfig:
    tag = uuid.uuid4().hex[:8]
    return SimConfig(
        seed=5,
        offers=30,
        orders=40,
        history_days=20,
        platform="fd_bg",
        accounts=[SimAccount(name="fd", username=f"fd-{tag}", password="pw-fd")],
    )


async def test_a_fashiondays_bg_account_syncs_offers_and_orders_in_eur(
    ctx: AppContext, sim: SimulatorServer
) -> None:
    (sim_account,) = sim.accounts
    account = await make_account(
        ctx,
        name="fd-bg",
        platform=PlatformCode.fd_bg,
        account_type=AccountType.main,
        username=sim_account.username,
        password=sim_account.password,
        base_url=sim.base_url,
    )
    for kind in (SyncKind.offers, SyncKind.orders):
        run = await sync(ctx, account, kind)
        assert run.status == "completed", run.errors
        assert run.processed_items > 0
    async with ctx.db.session() as session:
        currencies = set(
            (
                await session.execute(
                    select(EmagOrder.currency).where(EmagOrder.account_id == account.id)
                )
            ).scalars()
        )
    assert currencies == {"EUR"}
