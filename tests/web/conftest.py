"""Browser tests: Debian's Chromium driven by Playwright, against the app and the simulator.

Skipped (with the reason) when ``/usr/bin/chromium`` or the ``playwright`` package is missing.
Never uses a browser downloaded by ``playwright install``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag_sim import SimConfig
from magflow.settings import Settings
from tests.factories import make_user
from tests.orders.support import small_sim_config
from tests.support.servers import UvicornThread
from tests.support.simulation import Accounts

CHROMIUM = os.environ.get("MAGFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - depends on the environment
    async_playwright = None  # type: ignore[assignment]

if async_playwright is None:
    pytest.skip(
        "playwright is not installed (pip install playwright; never `playwright install`)",
        allow_module_level=True,
    )
if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)

LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def sim_config() -> SimConfig:
    return small_sim_config(offers=230, orders=60)


@dataclass
class Users:
    admin: str
    operator: str
    viewer: str


@dataclass
class Dashboard:
    url: str
    users: Users
    accounts: Accounts


@pytest.fixture
async def users(ctx: AppContext) -> Users:
    made = {role: (await make_user(ctx, role=role)).email for role in Role}
    return Users(made[Role.admin], made[Role.operator], made[Role.viewer])


@pytest.fixture
def dashboard(settings: Settings, accounts: Accounts, users: Users) -> Iterator[Dashboard]:
    from magflow.app import create_app

    with UvicornThread(create_app(settings)) as server:
        yield Dashboard(server.url, users, accounts)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=LAPTOP)  # type: ignore[arg-type]
    opened = await context.new_page()
    errors: list[Any] = []
    opened.on("pageerror", lambda error: errors.append(error))
    csp = watch_csp(opened)
    yield opened
    await context.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not csp, f"Content-Security-Policy violations: {csp}"


def watch_csp(page: Page) -> list[str]:
    """Every CSP violation the browser reports on ``page`` (console messages such as "Refused
    to load ..." or "Applying inline style violates ...")."""
    violations: list[str] = []

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            violations.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    return violations


async def log_in(page: Page, dashboard: Dashboard, email: str, path: str = "/") -> None:
    from tests.factories import DEFAULT_PASSWORD

    await page.goto(dashboard.url + path)
    await page.wait_for_url("**/login**")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", DEFAULT_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(dashboard.url + path)
