"""The dashboard end to end in headless Chromium, against uvicorn and the eMAG simulator."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.sync.models import SyncKind
from tests.factories import DEFAULT_PASSWORD
from tests.orders.support import sim_control, sim_offer
from tests.support.simulation import set_faults, sync
from tests.web.conftest import LAPTOP, PHONE, Dashboard, log_in


async def test_login_logout_and_cookie_flags(page: Page, dashboard: Dashboard) -> None:
    await page.goto(dashboard.url + "/offers")
    await page.wait_for_url("**/login?next=/offers")
    await page.fill("input[name=email]", dashboard.users.operator)
    await page.fill("input[name=password]", "not the password")
    await page.click("button[type=submit]")
    await expect(page.locator(".flash-error")).to_contain_text("Incorrect email or password")

    await page.fill("input[name=password]", DEFAULT_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(dashboard.url + "/offers")
    await expect(page.locator("h1")).to_have_text("Offers")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    for name in ("magflow_access", "magflow_refresh"):
        assert cookies[name]["httpOnly"] and cookies[name]["sameSite"] == "Strict"
    access = cookies["magflow_access"]["value"]
    assert await page.evaluate("document.cookie") == ""  # scripts cannot read the tokens

    await page.click("[data-testid=logout]")
    await page.wait_for_url("**/login")
    assert not [c for c in await page.context.cookies() if c["name"].startswith("magflow_")]
    # Logout revoked the token everywhere (token_version bumped), not just in this browser.
    async with httpx.AsyncClient(base_url=dashboard.url) as client:
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 401
    await page.goto(dashboard.url + "/")
    await page.wait_for_url("**/login?next=/")


async def test_sync_progress_bar_reaches_100_without_reload(
    page: Page, dashboard: Dashboard
) -> None:
    await log_in(page, dashboard, dashboard.users.operator, "/sync")
    await expect(page.locator("#live-state")).to_have_text("live")
    await page.evaluate("window.__notReloaded = true")
    # Record every value the bar shows, to see it move rather than appear at the end.
    await page.evaluate(
        """() => { window.__seen = [];
        new MutationObserver(() => document.querySelectorAll('[data-run-id] .bar').forEach(
          b => window.__seen.push(Number(b.getAttribute('aria-valuenow'))))
        ).observe(document.getElementById('live-runs'),
          {subtree: true, attributes: true, childList: true}); }"""
    )
    await page.select_option("select[name=account]", "main")
    await page.select_option("select[name=kind]", "offers")
    await page.click("[data-testid=sync-form] button[type=submit]")
    await expect(page.locator("#sync-flash")).to_contain_text("Started the offers sync")

    card = page.locator("#live-runs [data-run-id]").first
    await expect(card.locator(".bar")).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    await expect(card.locator(".run-status")).to_have_text("completed")
    await expect(card.locator(".run-facts")).to_contain_text("items 230 / 230")
    await expect(card.locator(".run-milestones .chip").last).to_have_text("100 %")
    await expect(card.locator(".run-cancel")).to_be_hidden()
    assert await page.evaluate("window.__notReloaded") is True
    seen = await page.evaluate("window.__seen")
    assert seen[-1] == 100 and len(set(seen)) >= 2, seen
    # The history below refreshed itself with the finished run.
    await expect(page.locator("#sync-history tbody tr").first).to_contain_text("completed")


async def test_cancel_a_running_sync(
    page: Page, dashboard: Dashboard, sim: SimulatorServer
) -> None:
    await set_faults(sim, slow=1.0, slow_seconds=1.0)
    await log_in(page, dashboard, dashboard.users.operator, "/sync")
    await expect(page.locator("#live-state")).to_have_text("live")
    await page.select_option("select[name=account]", "main")
    await page.click("[data-testid=sync-form] button[type=submit]")
    card = page.locator("#live-runs [data-run-id]").first
    await card.locator(".run-cancel").click()
    await expect(card.locator(".run-status")).to_have_text("cancelled", timeout=60_000)
    await expect(page.locator("#sync-history tbody tr").first).to_contain_text("cancelled")


async def test_viewer_sees_no_write_controls(
    ctx: AppContext, page: Page, dashboard: Dashboard
) -> None:
    await sync(ctx, dashboard.accounts.main, SyncKind.orders)
    await sync(ctx, dashboard.accounts.main, SyncKind.offers)
    await log_in(page, dashboard, dashboard.users.viewer, "/sync")
    await expect(page.locator("#live-state")).to_have_text("live")
    assert await page.locator("[data-testid=sync-form]").count() == 0
    assert (
        await page.locator("#run-template").evaluate("t => t.content.querySelector('.run-cancel')")
        is None
    )

    await page.goto(dashboard.url + "/offers")
    await expect(page.locator("[data-testid=offers] tbody tr")).to_have_count(25)
    assert await page.locator("input[name=selected], [data-testid=bulk-form]").count() == 0

    await page.goto(dashboard.url + "/orders")
    assert await page.locator("input[name=selected], [data-testid=ack-selected]").count() == 0
    await page.locator("[data-testid=orders] tbody a").first.click()
    await expect(page.locator("h1")).to_contain_text("Order")
    assert await page.locator("[data-testid=order-actions]").count() == 0

    nav = await page.locator(".nav a").all_inner_texts()
    assert "Accounts" not in nav
    # Forged writes are refused by the web routes (and by the API behind them).
    status = await page.evaluate(
        """async () => (await fetch('/sync/start', {method: 'POST',
            headers: {'X-MagFlow-CSRF': '1', 'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'kind=offers'})).status"""
    )
    assert status == 403
    response = await page.goto(dashboard.url + "/admin")
    assert response is not None and response.status == 403


async def test_acknowledge_orders(
    ctx: AppContext, page: Page, dashboard: Dashboard, sim: SimulatorServer
) -> None:
    created = await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 3})
    await sync(ctx, dashboard.accounts.main, SyncKind.orders)
    await log_in(page, dashboard, dashboard.users.operator, "/orders?status=1")
    rows = page.locator("[data-testid=orders] tbody tr")
    before = await rows.count()
    assert before >= 3
    # Many at once from the list...
    await rows.nth(0).locator("input[name=selected]").check()
    await rows.nth(1).locator("input[name=selected]").check()
    await page.click("[data-testid=ack-selected]")
    await expect(page.locator("[data-testid=ack-result]")).to_contain_text("Acknowledged 2 of 2")
    await expect(rows).to_have_count(before - 2)  # the list refreshed: no longer new
    # ...and one from its detail page.
    await rows.first.locator("a").click()
    await expect(page.locator("#order-detail [data-testid=order-status]")).to_have_text("new")
    await page.click("[data-testid=acknowledge]")
    await expect(page.locator("#order-detail [data-testid=order-status]")).to_have_text(
        "in progress"
    )
    await expect(page.locator("#order-detail .flash-ok")).to_contain_text("Acknowledged")
    emag_ids = {int(i) for i in created["created"]}
    assert emag_ids  # the simulator holds the acknowledged state as well:
    statuses = []
    for emag_id in emag_ids:
        order = await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{emag_id}")
        statuses.append(order["status"])
    assert statuses.count(2) >= 1


async def test_bulk_update_prices_shows_per_item_results(
    ctx: AppContext, page: Page, dashboard: Dashboard, sim: SimulatorServer
) -> None:
    await sync(ctx, dashboard.accounts.main, SyncKind.offers)
    await log_in(page, dashboard, dashboard.users.operator, "/offers?account=main&sort=emag_id")
    rows = page.locator("[data-testid=offers] tbody tr")
    await expect(rows).to_have_count(25)
    ids = [int(await rows.nth(i).get_attribute("data-offer") or 0) for i in range(2)]
    offers = [await sim_offer(sim, emag_id) for emag_id in ids]
    # A price inside the first offer's allowed range; the second accepts it only if in its own.
    low, high = float(offers[0]["min_sale_price"]), float(offers[0]["max_sale_price"])
    price = round(low + (high - low) / 3, 2)
    second_ok = float(offers[1]["min_sale_price"]) <= price <= float(offers[1]["max_sale_price"])
    for i in range(2):
        await rows.nth(i).locator("input[name=selected]").check()
    await page.select_option("[data-testid=bulk-form] select[name=field]", "sale_price")
    await page.fill("[data-testid=bulk-form] input[name=value]", str(price))
    await page.click("[data-testid=bulk-form] button[type=submit]")
    result = page.locator(".bulk-op")
    await expect(result.locator("[data-testid=bulk-status]")).to_have_text(
        "completed" if second_ok else "completed_with_errors", timeout=60_000
    )
    await expect(result.locator("tbody .badge")).to_have_text(
        ["succeeded", "succeeded" if second_ok else "invalid"]
    )
    if not second_ok:
        await expect(result.locator("tbody tr").nth(1)).to_contain_text("min_sale_price")
    assert float((await sim_offer(sim, ids[0]))["sale_price"]) == price
    await page.goto(dashboard.url + "/offers?account=main&sort=emag_id")
    await expect(rows.nth(0).locator("[data-price]")).to_contain_text(f"{price:,.2f}")


async def test_overview_kpis_chart_and_health(
    ctx: AppContext, page: Page, dashboard: Dashboard
) -> None:
    await sync(ctx, dashboard.accounts.main, SyncKind.orders)
    await sync(ctx, dashboard.accounts.main, SyncKind.offers)
    await log_in(page, dashboard, dashboard.users.admin, "/")
    waiting = int(await page.locator("[data-testid=kpi-waiting]").inner_text())
    async with httpx.AsyncClient(base_url=dashboard.url) as client:
        token = (
            await client.post(
                "/api/v1/auth/login",
                data={"username": dashboard.users.admin, "password": DEFAULT_PASSWORD},
            )
        ).json()["access_token"]
        new = await client.get(
            "/api/v1/emag/orders",
            params={"status": 1, "type": 3, "limit": 1},  # FBE orders are eMAG's to acknowledge
            headers={"Authorization": f"Bearer {token}"},
        )
    assert waiting == new.json()["total"]
    # Chart.js drew on the canvas.
    drawn = await page.evaluate(
        "() => !!window.Chart && !!Chart.getChart(document.getElementById('orders-chart'))"
    )
    assert drawn
    card = page.locator("[data-account=main]")
    await expect(card.locator("tbody tr")).to_have_count(2)
    await expect(card.locator("tbody")).to_contain_text("completed")
    await expect(page.locator("#live-state")).to_have_text("live")


async def test_state_changing_routes_need_the_csrf_header(dashboard: Dashboard) -> None:
    async with httpx.AsyncClient(base_url=dashboard.url, follow_redirects=False) as client:
        login = await client.post(
            "/login", data={"email": dashboard.users.operator, "password": DEFAULT_PASSWORD}
        )
        assert login.status_code == 303
        assert "samesite=strict" in login.headers["set-cookie"].lower()
        form = {"kind": "offers", "account": "main"}
        assert (await client.post("/sync/start", data=form)).status_code == 403
        cross = await client.post(
            "/sync/start",
            data=form,
            headers={"X-MagFlow-CSRF": "1", "Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        assert (await client.get("/ws-token")).status_code == 403
        ok = await client.post("/sync/start", data=form, headers={"X-MagFlow-CSRF": "1"})
        assert ok.status_code == 200 and "Started the offers sync" in ok.text


async def test_customers_analytics_table_and_charts(
    ctx: AppContext, page: Page, dashboard: Dashboard
) -> None:
    await sync(ctx, dashboard.accounts.main, SyncKind.orders)
    await log_in(page, dashboard, dashboard.users.viewer, "/customers")
    rows = page.locator("[data-testid=customers] tbody tr")
    await expect(rows.first.locator(".badge").first).to_be_visible()
    assert await rows.count() > 1
    charts = await page.evaluate(
        "() => ['tier-chart', 'channel-chart'].map(id => !!Chart.getChart("
        "document.getElementById(id)))"
    )
    assert charts == [True, True]
    await page.select_option("select[name=sort]", "orders")
    await expect(page).to_have_url(re.compile(r"sort=orders"))


SCREENSHOTS = os.environ.get("MAGFLOW_SCREENSHOTS")


@pytest.mark.skipif(not SCREENSHOTS, reason="set MAGFLOW_SCREENSHOTS=<folder> to save screenshots")
async def test_screenshots(
    ctx: AppContext, browser: Browser, dashboard: Dashboard, sim: SimulatorServer
) -> None:
    """Every page on a laptop and a phone, into $MAGFLOW_SCREENSHOTS (scripts/screenshots.py)."""
    folder = Path(SCREENSHOTS or ".")
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 4})
    for account in (dashboard.accounts.main, dashboard.accounts.fbe):
        await sync(ctx, account, SyncKind.orders)
        await sync(ctx, account, SyncKind.offers)
    pages = [
        ("overview", "/"),
        ("offers", "/offers"),
        ("orders", "/orders"),
        ("customers", "/customers"),
        ("accounts", "/admin"),
        ("users", "/users"),
    ]
    for size_name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        page = await context.new_page()
        await page.goto(dashboard.url + "/login")
        await page.screenshot(path=folder / f"login-{size_name}.png")
        await log_in(page, dashboard, dashboard.users.admin, "/")
        for name, path in pages:
            await page.goto(dashboard.url + path)
            await page.wait_for_load_state("networkidle")
            await page.screenshot(path=folder / f"{name}-{size_name}.png", full_page=True)
        order_link = page.locator("[data-testid=orders] tbody a").first
        await page.goto(dashboard.url + "/orders?status=1&account=main")
        await order_link.click()
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=folder / f"order-{size_name}.png", full_page=True)
        # Acknowledged, the order page offers the AWB form (couriers loaded from eMAG).
        await page.click("[data-testid=acknowledge]")
        await expect(page.locator("[data-testid=awb-courier] option")).to_have_count(4)
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=folder / f"order-awb-{size_name}.png", full_page=True)
        # The sync page with a run in flight: slow the simulator down and catch it mid-way.
        await set_faults(sim, slow=1.0, slow_seconds=0.6)
        await page.goto(dashboard.url + "/sync")
        await expect(page.locator("#live-state")).to_have_text("live")
        await page.select_option("select[name=account]", "fbe")
        await page.select_option("select[name=kind]", "offers")
        await page.click("[data-testid=sync-form] button[type=submit]")
        bar = page.locator("#live-runs [data-run-id] .bar").first
        await expect(bar).not_to_have_attribute("aria-valuenow", "0", timeout=30_000)
        await page.screenshot(path=folder / f"sync-{size_name}.png", full_page=True)
        await expect(bar).to_have_attribute("aria-valuenow", "100", timeout=60_000)
        await set_faults(sim)
        await context.close()
