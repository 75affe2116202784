"""The repricer against the simulator's competitors: it wins the Buy Button when the floor
allows, holds at the floor when it does not (no price war below it), respects the cool-down and
the daily limit, records eMAG's refusals (an offer deleted on eMAG, a refused price) and pauses
the rule for that offer, refuses a rule whose floor is above the max price, and runs after an
offers sync."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D
from typing import Any

import httpx
from sqlalchemy import select, update

from magflow.audit.models import AuditLog
from magflow.auth.models import Role
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.sync.models import SyncKind
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.orders.support import Clients, sim_control, sim_offer
from tests.pricing.test_history import local_id
from tests.support.simulation import Accounts, sync

MAIN = {"account": "main"}


async def run(client: httpx.AsyncClient, *, dry_run: bool) -> dict[str, Any]:
    """Start a run; wait until eMAG answered its changes."""
    started = await client.post("/api/v1/pricing/runs", params=MAIN, json={"dry_run": dry_run})
    assert started.status_code == 201, started.text
    view: dict[str, Any] = started.json()
    deadline = time.monotonic() + 60
    while view["status"] == "running":
        assert time.monotonic() < deadline, view
        await asyncio.sleep(0.05)
        view = (await client.get(f"/api/v1/pricing/runs/{view['id']}")).json()
    return view


async def setup(op: httpx.AsyncClient, offer_id: int, unit_cost: D, **rule: Any) -> dict[str, Any]:
    assert (
        await op.put(
            "/api/v1/pricing/settings", params=MAIN, json={"default_commission_rate": "0.1"}
        )
    ).status_code == 200
    costs = await op.put(
        "/api/v1/pricing/costs",
        params=MAIN,
        json={"items": [{"offer_id": offer_id, "unit_cost": str(unit_cost)}]},
    )
    assert costs.status_code == 200, costs.text
    body = {
        "name": f"offer {offer_id}",
        "scope": "offers",
        "offer_ids": [offer_id],
        "strategy": "win",
        "min_margin": "0.1",
        "cooldown_minutes": 0,
        "max_changes_per_day": 20,
        "stop_after_steps": 20,
        **rule,
    }
    created = await op.post("/api/v1/pricing/rules", params=MAIN, json=body)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def decision_of(view: dict[str, Any], offer_id: int) -> dict[str, Any]:
    found = [d for d in view["decisions"] if d["emag_id"] == offer_id]
    assert len(found) == 1, view
    return found[0]


async def test_wins_when_the_floor_allows_and_holds_at_the_floor(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    op = clients.operator
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    offer = await sim_offer(sim, 7)
    s = D(str(offer["sale_price"]))
    # One competitor undercuts (down to its own floor, 0.80 x s), one holds higher.
    await sim_control(
        sim,
        "POST",
        "/_sim/accounts/main/offers/7/competitors",
        json=[
            {
                "strategy": "undercut",
                "price": float(s * D("0.9")),
                "floor": float(s * D("0.8")),
                "step": 0.01,
                "interval": 3600,
            },
            {"strategy": "hold", "price": float(s * D("1.2"))},
        ],
    )
    # Our floor: cost / (1 - 0.1 x 1.21 - 0.1) = 0.85 x s (a little above the rival's floor).
    await setup(
        op,
        7,
        (s * D("0.85") * D("0.779")).quantize(D("0.01")),
        step=str((s * D("0.02")).quantize(D("0.01"))),
    )
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"

    dry = await run(op, dry_run=True)
    first = decision_of(dry, 7)
    floor = D(first["floor"])
    assert first["action"] == "change" and D(first["price_after"]) < D(str(s * D("0.9")))
    assert D(first["profit_after"]) > 0
    assert D(str((await sim_offer(sim, 7))["sale_price"])) == s  # a dry run sends nothing

    prices = []
    for _round in range(8):
        view = await run(op, dry_run=False)
        decision = (
            decision_of(view, 7) if any(d["emag_id"] == 7 for d in view["decisions"]) else None
        )
        if decision is not None and decision["action"] == "change":
            assert decision["outcome"] == "sent", decision
        now = await sim_offer(sim, 7)
        prices.append(D(str(now["sale_price"])))
        assert prices[-1] >= floor  # never under the floor
        if (
            decision is not None
            and decision["reason"] == "at_floor"
            and decision["action"] == "hold"
        ):
            break
        if now["buy_button_rank"] == 1:
            # We won: the undercutter answers on its turn.
            await sim_control(sim, "POST", "/_sim/accounts/main/offers/7/competitors/tick")
        assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    else:
        raise AssertionError(f"never settled at the floor: {prices}")
    assert prices[-1] == floor
    final = await sim_offer(sim, 7)
    assert final["buy_button_rank"] == 2  # the rival stays below our floor: we let it
    offer_7 = await local_id(ctx, accounts.main.id, 7)
    history = (await clients.viewer.get(f"/api/v1/pricing/offers/{offer_7}/decisions")).json()
    reasons = [d["reason"] for d in history["decisions"]]
    assert "target" in reasons and "at_floor" in reasons


async def test_cooldown_and_daily_limit(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    op = clients.operator
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    s = D(str((await sim_offer(sim, 8))["sale_price"]))
    await sim_control(
        sim,
        "POST",
        "/_sim/accounts/main/offers/8/competitors",
        json=[{"strategy": "hold", "price": float(s * D("0.95"))}],
    )
    rule = await setup(
        op,
        8,
        (s * D("0.5")).quantize(D("0.01")),
        strategy="match",
        cooldown_minutes=60,
        max_changes_per_day=1,
    )
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    first = await run(op, dry_run=False)
    assert decision_of(first, 8)["action"] == "change"
    async with ctx.db.session() as session:  # sent through the light offer API, audited
        audited = (
            await session.execute(
                select(AuditLog.emag_route).where(AuditLog.bulk_operation_id.is_not(None))
            )
        ).scalars()
        assert "offer/save" in list(audited)
    await sim_control(
        sim,
        "POST",
        "/_sim/accounts/main/offers/8/competitors",
        json=[{"strategy": "hold", "price": float(s * D("0.93"))}],
    )
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    assert decision_of(await run(op, dry_run=False), 8)["reason"] == "cooldown"
    patched = await op.patch(f"/api/v1/pricing/rules/{rule['id']}", json={"cooldown_minutes": 0})
    assert patched.status_code == 200, patched.text
    assert decision_of(await run(op, dry_run=False), 8)["reason"] == "daily_limit"
    assert abs(D(str((await sim_offer(sim, 8))["sale_price"])) - s * D("0.95")) <= D("0.0001")


async def test_refusals_pause_the_offer_and_a_floor_above_max_is_refused(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients, api: str
) -> None:
    op = clients.operator
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    s9 = D(str((await sim_offer(sim, 9))["sale_price"]))
    # A floor above max_sale_price (1.6 x s): refused with why.
    refused = await op.post(
        "/api/v1/pricing/rules",
        params=MAIN,
        json={
            "name": "x",
            "scope": "offers",
            "offer_ids": [9],
            "strategy": "win",
            "min_margin": "0.1",
        },
    )
    assert refused.status_code == 201  # no cost yet: no floor, accepted (it will not run)
    assert (await op.delete(f"/api/v1/pricing/rules/{refused.json()['id']}")).status_code == 204
    await op.put(
        "/api/v1/pricing/costs",
        params=MAIN,
        json={"items": [{"offer_id": 9, "unit_cost": str(s9 * 2)}]},
    )
    await op.put("/api/v1/pricing/settings", params=MAIN, json={"default_commission_rate": "0.1"})
    too_high = await op.post(
        "/api/v1/pricing/rules",
        params=MAIN,
        json={
            "name": "x",
            "scope": "offers",
            "offer_ids": [9],
            "strategy": "win",
            "min_margin": "0.1",
        },
    )
    assert too_high.status_code == 422 and "above its max_sale_price" in too_high.text

    # Offer 10 is deleted on eMAG (only the local copy is left: the sim does not know 10_000);
    # offer 16's local max_sale_price is above eMAG's, so eMAG refuses the price.
    async with ctx.db.session() as session:
        await session.execute(
            update(EmagOffer)
            .where(EmagOffer.account_id == accounts.main.id, EmagOffer.emag_id == 10)
            .values(emag_id=10_000)
        )
        await session.execute(
            update(EmagOffer)
            .where(EmagOffer.account_id == accounts.main.id, EmagOffer.emag_id == 16)
            .values(max_sale_price=EmagOffer.sale_price * 10)
        )
        await session.commit()
    s16 = D(str((await sim_offer(sim, 16))["sale_price"]))
    await op.put(
        "/api/v1/pricing/costs",
        params=MAIN,
        json={
            "items": [
                {"offer_id": 10_000, "unit_cost": "1"},
                {"offer_id": 16, "unit_cost": str(s16 * 2)},
            ]
        },
    )
    for offer_id, strategy in ((10_000, "margin"), (16, "margin")):
        created = await op.post(
            "/api/v1/pricing/rules",
            params=MAIN,
            json={
                "name": "m",
                "scope": "offers",
                "offer_ids": [offer_id],
                "strategy": strategy,
                "min_margin": "0.05",
                "target_margin": "0.3",
                "cooldown_minutes": 0,
            },
        )
        assert created.status_code == 201, created.text
    view = await run(op, dry_run=False)
    assert view["refused"] == 2 and view["status"] == "stopped"  # every change refused
    deleted, price = decision_of(view, 10_000), decision_of(view, 16)
    assert deleted["outcome"] == "refused" and "does not exist" in deleted["messages"][0]
    assert price["outcome"] == "refused" and "max_sale_price" in price["messages"][0]
    offer_16 = await local_id(ctx, accounts.main.id, 16)
    state = (await op.get(f"/api/v1/pricing/offers/{offer_16}/decisions")).json()
    assert "eMAG refused the price" in state["paused_reason"]
    viewer = await make_user(ctx, role=Role.viewer)  # the offer's page shows its decisions
    async with httpx.AsyncClient(base_url=api, timeout=30) as browser:
        login = await browser.post(
            "/login", data={"email": viewer.email, "password": DEFAULT_PASSWORD}
        )
        assert login.status_code == 303, login.text
        page = (await browser.get(f"/offers/{offer_16}/pricing")).text
        assert 'data-testid="decisions"' in page and "paused: eMAG refused the price" in page
    again = await run(op, dry_run=False)
    assert decision_of(again, 16)["reason"] == "paused" and again["changes"] == 0
    assert (await op.post(f"/api/v1/pricing/offers/{offer_16}/resume")).status_code == 200
    assert decision_of(await run(op, dry_run=True), 16)["action"] == "change"


async def test_rules_run_after_an_offers_sync(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    op = clients.operator
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    s = D(str((await sim_offer(sim, 12))["sale_price"]))
    await sim_control(
        sim,
        "POST",
        "/_sim/accounts/main/offers/12/competitors",
        json=[{"strategy": "hold", "price": float(s * D("0.97"))}],
    )
    await setup(op, 12, (s * D("0.3")).quantize(D("0.01")), step="0.01")
    started = await op.post("/api/v1/emag/enhanced/sync/offers", json={"account": "main"})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while True:
        runs = (await op.get("/api/v1/pricing/runs", params=MAIN)).json()
        if runs and runs[0]["status"] != "running":
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert runs[0]["trigger"] == "sync" and runs[0]["changes"] == 1
    offer = await sim_offer(sim, 12)
    assert abs(D(str(offer["sale_price"])) - (s * D("0.97") - D("0.01"))) <= D("0.0001")
    assert offer["buy_button_rank"] == 1


async def test_profit_lines_are_rebuilt_after_an_orders_sync(
    ctx: AppContext, accounts: Accounts, clients: Clients
) -> None:
    op = clients.operator
    started = await op.post("/api/v1/emag/enhanced/sync/orders", json={"account": "main"})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while True:  # the report fills once the run and what follows it are done
        report = await op.get("/api/v1/pricing/report", params={**MAIN, "date_from": "2020-01-01"})
        if report.json()["rows"]:
            break
        assert time.monotonic() < deadline, "no profit lines after the orders sync"
        await asyncio.sleep(0.1)
    assert sum(r["lines"] for r in report.json()["rows"]) > 0


async def test_an_offer_without_a_known_vat_rate_gets_no_floor_and_no_change(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    """eMAG's commission is charged on the price with VAT: with the VAT rate unknown (an offer
    whose vat_id eMAG's vat/read did not list) a floor computed at 0 % VAT would be too low, so
    the rule skips the offer and its profit is unknown rather than overstated."""
    op = clients.operator
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    s = D(str((await sim_offer(sim, 9))["sale_price"]))
    await sim_control(
        sim,
        "POST",
        "/_sim/accounts/main/offers/9/competitors",
        json=[{"strategy": "hold", "price": float(s * D("0.9"))}],
    )
    await setup(op, 9, (s * D("0.3")).quantize(D("0.01")), strategy="match")
    async with ctx.db.session() as session:
        await session.execute(
            update(EmagOffer)
            .where(EmagOffer.account_id == accounts.main.id, EmagOffer.emag_id == 9)
            .values(vat_rate=None)
        )
        await session.commit()
    decision = decision_of(await run(op, dry_run=False), 9)
    assert (decision["action"], decision["reason"]) == ("skip", "no_floor"), decision
    assert "VAT" in decision["detail"]
    assert D(str((await sim_offer(sim, 9))["sale_price"])) == s  # nothing sent to eMAG
    offer_9 = await local_id(ctx, accounts.main.id, 9)
    profit = (await op.get(f"/api/v1/pricing/offers/{offer_9}/profit")).json()
    assert profit["known"] is False and profit["vat_rate"] is None, profit
    assert [point["profit"] for point in profit["at"]] == [None], profit
