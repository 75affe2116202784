"""The dashboard under its Content-Security-Policy in headless Chromium: no violation on any
page, and the behaviour that used to be inline still works.

Every page is visited as an admin with synced data (so that the charts draw and the live
socket connects); the browser's console must report no CSP violation. The select-all box of the
offers (an ``onclick`` before) and the reset of the user form after a successful creation (an
``hx-on`` before, which needs eval) are exercised. The control injects an inline handler and
checks that the browser refuses it and that the watcher sees the refusal. SQLite only: the
policy does not depend on the database (the other browser tests run on both backends and check
for violations too, see tests/web/conftest.py).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from magflow.context import AppContext
from magflow.sync.models import SyncKind
from tests.conftest import Backend
from tests.support.simulation import sync
from tests.web.conftest import (  # noqa: F401 - fixtures
    LAPTOP,
    Dashboard,
    browser,
    dashboard,
    log_in,
    sim_config,
    users,
    watch_csp,
)

PAGES = ["/", "/sync", "/offers", "/orders", "/customers", "/admin", "/users"]


@pytest.fixture
def backend(sqlite_template: Path, tmp_path: Path) -> Backend:
    """SQLite only: overrides the conftest's backend parametrization for this module."""
    path = tmp_path / "magflow.db"
    shutil.copyfile(sqlite_template, path)
    return Backend("sqlite", f"sqlite+aiosqlite:///{path}", None)


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[tuple[Page, list[str]]]:  # noqa: F811
    context = await browser.new_context(viewport=LAPTOP)  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, watch_csp(page)
    await context.close()
    assert not errors, f"JavaScript errors: {errors}"


async def test_no_page_violates_the_policy_which_is_enforced(
    ctx: AppContext,
    watched: tuple[Page, list[str]],
    dashboard: Dashboard,  # noqa: F811
) -> None:
    page, violations = watched
    await sync(ctx, dashboard.accounts.main, SyncKind.orders)
    await sync(ctx, dashboard.accounts.main, SyncKind.offers)
    await page.goto(dashboard.url + "/login")
    await log_in(page, dashboard, dashboard.users.admin, "/")
    for path in PAGES:
        response = await page.goto(dashboard.url + path)
        assert response is not None and response.status == 200, path
        assert "script-src 'self'" in (await response.all_headers())["content-security-policy"]
    # What the policy must not break: Chart.js draws, the live socket connects.
    await page.goto(dashboard.url + "/")
    drawn = await page.evaluate("() => !!Chart.getChart(document.getElementById('orders-chart'))")
    assert drawn
    await page.goto(dashboard.url + "/sync")
    await expect(page.locator("#live-state")).to_have_text("live")
    await page.goto(dashboard.url + "/orders")
    await page.locator("[data-testid=orders] tbody a").first.click()
    await expect(page.locator("h1")).to_contain_text("Order")
    await page.wait_for_load_state("networkidle")  # its fragments load after the page

    # The behaviour that was inline: the offers' select-all box, the user form's reset.
    await page.goto(dashboard.url + "/offers")
    boxes = page.locator("[data-testid=offers] tbody input[name=selected]")
    await expect(boxes).to_have_count(25)
    select_all = page.locator("input[data-select-all]")
    await select_all.check()
    assert await boxes.evaluate_all("bs => bs.every(b => b.checked)")
    await select_all.uncheck()
    assert await boxes.evaluate_all("bs => bs.every(b => !b.checked)")

    await page.goto(dashboard.url + "/users")
    form = page.locator("[data-testid=user-create]")
    await form.locator("input[name=email]").fill("csp-check@example.com")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("[data-testid=users]")).to_contain_text("csp-check@example.com")
    await expect(form.locator("input[name=email]")).to_have_value("")  # reset on success
    assert violations == []

    # The control: an injected inline handler does not run, and the watcher reports it.
    await page.evaluate(
        """() => document.body.insertAdjacentHTML('beforeend',
            '<img src="/static/no-such.png" onerror="window.__ran = true">')"""
    )
    await page.wait_for_function(
        "() => document.querySelector('img[src$=\"no-such.png\"]').complete"
    )
    for _ in range(50):  # the console message reaches Python a moment after the page
        if any("inline event handler" in v for v in violations):
            break
        await page.wait_for_timeout(100)
    assert any("inline event handler" in v for v in violations), violations
    assert await page.evaluate("() => window.__ran === undefined")
