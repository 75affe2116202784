"""Browser tests of the to-do block on the overview and of the seller performance page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from magflow.context import AppContext
from tests.web.conftest import Dashboard, log_in
from tests.web.test_pages import store_order


# The page only renders the API's answers (checked on both databases in tests/intake and
# tests/performance): one backend is enough here.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_overview_lists_todos_and_performance_page_draws_charts(
    ctx: AppContext, page: Page, dashboard: Dashboard
) -> None:
    main = dashboard.accounts.main.id
    now = datetime.now(UTC)
    late = await store_order(
        ctx, main, status=3, order_date=now - timedelta(days=3),
        maximum_date_for_shipment=now - timedelta(hours=2),
    )  # fmt: skip
    await store_order(
        ctx, main, status=1, order_date=now - timedelta(minutes=5),
        maximum_date_for_shipment=now + timedelta(days=1),
    )  # fmt: skip
    await store_order(
        ctx, main, status=4, order_date=now - timedelta(days=2), has_invoice=True,
        finalization_date=now - timedelta(days=1), maximum_date_for_shipment=now,
    )  # fmt: skip
    await log_in(page, dashboard, dashboard.users.viewer, "/")
    block = page.locator(f"[data-testid=todo] [data-todo-account={dashboard.accounts.main.name}]")
    await expect(block.locator("[data-testid=todo-total]")).to_have_text("2 to do, 1 overdue")
    rows = block.locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_have_attribute("data-kind", "late")  # due first
    await expect(rows.nth(0)).to_contain_text("overdue")
    await expect(rows.nth(1)).to_have_attribute("data-kind", "acknowledge")
    assert await rows.nth(0).locator("a").get_attribute("href") == f"/orders/{late}"

    await page.goto(f"{dashboard.url}/performance?account={dashboard.accounts.main.name}&days=7")
    late_rate = page.locator("[data-metric=late_shipment_rate]")
    await expect(late_rate).to_contain_text("50.0 %")  # 1 of the 2 due (one open and late)
    await expect(late_rate).to_have_class("kpi perf-red")
    await expect(page.locator("[data-metric=invoice_rate]")).to_contain_text("100.0 %")
    for chart in ("perf-rates-chart", "perf-ack-chart"):
        assert await page.evaluate(f"!!Chart.getChart(document.getElementById('{chart}'))")
    async with page.expect_download() as info:
        await page.click("[data-testid=export-summary]")
    download = await info.value
    assert download.suggested_filename == "performance-main-7d-summary.csv"
