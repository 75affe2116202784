"""Offer history: recorded by the offers sync only when something changed; the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from magflow.auth.models import Role
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.pricing.models import OfferHistory
from magflow.sync.models import SyncKind
from tests.factories import make_user
from tests.orders.support import Clients, sim_control
from tests.support.auth import DEFAULT_PASSWORD
from tests.support.simulation import Accounts, sync


async def local_id(ctx: AppContext, account_id: int, emag_id: int) -> int:
    """The offer's id in MagFlow (the API's ``/offers/{id}``)."""
    async with ctx.db.session() as session:
        found = await session.execute(
            select(EmagOffer.id).where(
                EmagOffer.account_id == account_id, EmagOffer.emag_id == emag_id
            )
        )
        return int(found.scalar_one())


async def history_rows(ctx: AppContext) -> int:
    async with ctx.db.session() as session:
        return int((await session.execute(select(func.count(OfferHistory.id)))).scalar_one())


async def test_history_records_changes_only(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients, api: str
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    first = await history_rows(ctx)
    assert first == 40  # each new offer's first state
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    assert await history_rows(ctx) == first  # nothing changed, nothing written

    # Offer 5 gets competitors: its rank, best offer and number of offers change on eMAG.
    await sim_control(
        sim,
        "POST",
        "/_sim/accounts/main/offers/5/competitors",
        json=[{"strategy": "hold", "price": 1.0}],
    )
    between = datetime.now(UTC)
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    assert await history_rows(ctx) == first + 1

    offer_5 = await local_id(ctx, accounts.main.id, 5)
    history = await clients.viewer.get(f"/api/v1/pricing/offers/{offer_5}/history")
    assert history.status_code == 200, history.text
    rows = history.json()
    assert len(rows) == 2
    assert rows[-1]["buy_button_rank"] == 2 and rows[-1]["number_of_offers"] == 2
    assert rows[-1]["best_offer_sale_price"] == "1.0000"

    changes = await clients.viewer.get(
        "/api/v1/pricing/history/changes", params={"since": between.isoformat()}
    )
    assert [c["emag_id"] for c in changes.json()] == [5]
    everything = await clients.viewer.get(
        "/api/v1/pricing/history/changes",
        params={"since": start.isoformat(), "limit": 30, "account": "main"},
    )
    assert len(everything.json()) == 30
    bad = await clients.viewer.get("/api/v1/pricing/history/changes", params={"since": "soon"})
    assert bad.status_code == 422

    # Its competitor leaves: offer 5 wins the Buy Button back.
    await sim_control(sim, "POST", "/_sim/accounts/main/offers/5/competitors", json=[])
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    ranks = [
        r["buy_button_rank"]
        for r in (await clients.viewer.get(f"/api/v1/pricing/offers/{offer_5}/history")).json()
    ]
    assert ranks[1:] == [2, 1]
    moves = (await clients.viewer.get("/api/v1/pricing/buy-buttons")).json()
    assert moves["won"] == 1 and moves["lost"] == (1 if ranks[0] == 1 else 0)

    # The dashboard: the offer's page draws its history; the overview counts the Buy Buttons.
    viewer = await make_user(ctx, role=Role.viewer)
    async with httpx.AsyncClient(base_url=api, timeout=30) as browser:
        login = await browser.post(
            "/login", data={"email": viewer.email, "password": DEFAULT_PASSWORD}
        )
        assert login.status_code == 303, login.text
        page = await browser.get(f"/offers/{offer_5}/pricing")
        assert page.status_code == 200, page.text
        assert 'data-testid="history-chart"' in page.text and "<polyline" in page.text
        assert "3 recorded changes" in page.text
        overview = await browser.get("/")
        assert "+1 / -" in overview.text and "kpi-buy-buttons" in overview.text


async def test_history_older_than_the_retention_is_pruned(ctx: AppContext) -> None:
    from magflow.jobs.maintenance import Maintenance
    from tests.factories import make_account

    account = await make_account(ctx, name="old")
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        for days in (ctx.settings.pricing_history_days + 1, 1):
            session.add(
                OfferHistory(
                    account_id=account.id, emag_id=1, recorded_at=now - timedelta(days=days)
                )
            )
        await session.commit()

    async def dispatch(_run_id: int) -> None: ...

    maintenance = Maintenance(ctx, dispatch)
    assert await maintenance.prune_history() == 1
    assert await maintenance.prune_history() == 0  # at most once an hour
    assert await history_rows(ctx) == 1
