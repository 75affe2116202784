"""The dashboard shows an offers run that withheld offers from missing, and lets an operator
confirm them (headless Chromium against uvicorn and the simulator)."""

from __future__ import annotations

from playwright.async_api import Page, expect

from magflow.context import AppContext
from magflow.sync.models import SyncKind
from tests.support.simulation import sync
from tests.sync.test_missing_guard import add_ghosts, missing_ids
from tests.web.conftest import Dashboard, log_in


async def test_the_warning_shows_and_an_operator_confirms_it(
    ctx: AppContext, page: Page, dashboard: Dashboard
) -> None:
    account = dashboard.accounts.main
    ghosts = await add_ghosts(ctx, account.id, 70)
    run = await sync(ctx, account, SyncKind.offers)
    assert run.warning is not None

    await log_in(page, dashboard, dashboard.users.operator, "/")
    card = page.locator("[data-account=main]")
    await expect(card.locator(".reasons")).to_contain_text(f"offers run {run.id}")
    await expect(card.locator("[data-testid=missing-warning]")).to_contain_text(
        "70 withheld from missing"
    )

    await page.goto(dashboard.url + "/sync")
    row = page.locator(f"#sync-history tr[data-run='{run.id}']")
    await expect(row.locator("[data-testid=missing-warning]")).to_contain_text("more than the 20 %")
    await row.locator("[data-testid=confirm-missing]").click()
    await expect(page.locator(f"#sync-history tr[data-run='{run.id}']")).to_contain_text(
        "70 withheld offers marked missing"
    )
    assert await missing_ids(ctx, account.id) == ghosts
