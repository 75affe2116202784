"""Browser tests: the users admin page and AWB creation from the order page."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect
from sqlalchemy import select

from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from tests.orders.support import sim_control
from tests.support.simulation import sync
from tests.web.conftest import Dashboard, log_in


async def settled(page: Page) -> None:
    """htmx has finished swapping and settling (new content is wired up).

    A locator, not ``wait_for_function``: Playwright compiles that predicate in the page, which
    the dashboard's Content-Security-Policy (no 'unsafe-eval') refuses."""
    busy = page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    await expect(busy).to_have_count(0)


async def test_admin_manages_users(page: Page, dashboard: Dashboard) -> None:
    await log_in(page, dashboard, dashboard.users.admin, "/users")
    await expect(page.locator("nav")).to_contain_text("Users")
    table = page.locator("[data-testid=users]")
    await expect(table).to_contain_text(dashboard.users.operator)

    # Create with a generated password: shown once, and it signs in.
    form = page.locator("[data-testid=user-create]")
    await form.locator("input[name=email]").fill("packer@example.com")
    await form.locator("select[name=role]").select_option("operator")
    await form.locator("button[type=submit]").click()
    shown = page.locator("[data-testid=generated-password] code")
    await expect(shown).to_have_count(1)
    password = await shown.inner_text()
    assert len(password) >= 10
    row = table.locator("tr[data-email='packer@example.com']")
    await expect(row.locator("[data-testid=user-role]")).to_have_value("operator")
    async with httpx.AsyncClient(base_url=dashboard.url) as client:
        login = await client.post(
            "/api/v1/auth/login", data={"username": "packer@example.com", "password": password}
        )
        assert login.status_code == 200
        token = login.json()["access_token"]
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == "operator"

    # A duplicate email: the API's message, no password shown.
    await form.locator("input[name=email]").fill("packer@example.com")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#users .flash-error")).to_contain_text("already exists")
    await expect(page.locator("[data-testid=generated-password]")).to_have_count(0)

    # Change the role; disable; enable.
    await settled(page)
    await row.locator("[data-testid=user-role]").select_option("viewer")
    await expect(page.locator("#users .flash-ok")).to_contain_text("packer@example.com: viewer")
    page.once("dialog", lambda dialog: dialog.accept())
    await row.locator("[data-testid=user-disable]").click()
    await expect(row.locator("[data-testid=user-state]")).to_have_text("disabled")
    async with httpx.AsyncClient(base_url=dashboard.url) as client:
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401  # the old token stopped working
    await row.locator("[data-testid=user-enable]").click()
    await expect(row.locator("[data-testid=user-state]")).to_have_text("active")
    await expect(page.locator("#users .flash-ok")).to_contain_text("viewer, enabled")

    # An admin cannot demote themself.
    await settled(page)
    me_row = table.locator(f"tr[data-email='{dashboard.users.admin}']")
    await me_row.locator("[data-testid=user-role]").select_option("viewer")
    await expect(page.locator("#users .flash-error")).to_contain_text(
        "cannot remove your own admin role"
    )
    await expect(me_row.locator("[data-testid=user-role]")).to_have_value("admin")


async def test_users_page_is_for_admins_only(page: Page, dashboard: Dashboard) -> None:
    await log_in(page, dashboard, dashboard.users.operator, "/")
    await expect(page.locator("nav")).not_to_contain_text("Users")
    response = await page.goto(dashboard.url + "/users")
    assert response is not None and response.status == 403


async def test_create_awb_from_the_order_page(
    ctx: AppContext, page: Page, dashboard: Dashboard, sim: SimulatorServer
) -> None:
    created = await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1})
    emag_id = int(created["created"][0])
    await sync(ctx, dashboard.accounts.main, SyncKind.orders)
    async with ctx.db.session() as session:
        order_id = (
            await session.execute(
                select(EmagOrder.id).where(
                    EmagOrder.emag_id == emag_id,
                    EmagOrder.account_id == dashboard.accounts.main.id,
                )
            )
        ).scalar_one()

    await log_in(page, dashboard, dashboard.users.operator, f"/orders/{order_id}")
    await expect(page.locator("[data-testid=awb-form]")).to_have_count(0)  # new: not yet
    await page.click("[data-testid=acknowledge]")
    await expect(page.locator("#order-detail [data-testid=order-status]")).to_have_text(
        "in progress"
    )
    form = page.locator("[data-testid=awb-form]")
    courier = form.locator("[data-testid=awb-courier]")
    # The select is filled from the order's account's courier accounts.
    await expect(courier.locator("option")).to_have_count(4)
    await courier.select_option("2")
    await form.locator("input[name=sender_name]").fill("MagFlow Test SRL")
    await form.locator("input[name=sender_contact]").fill("Ion Popescu")
    await form.locator("input[name=sender_phone]").fill("0722000111")
    await form.locator("input[name=sender_locality_id]").fill("8801")
    await form.locator("input[name=sender_street]").fill("Strada Depozitului 1")
    await form.locator("input[name=weight]").fill("1.5")

    # eMAG refuses no parcel and no envelope: its message is shown, nothing changes.
    await form.locator("input[name=parcel_number]").fill("0")
    await form.locator("[data-testid=awb-submit]").click()
    await expect(page.locator("#order-detail .flash-error")).to_contain_text(
        "envelope_number and parcel_number cannot both be 0"
    )
    await expect(page.locator("#order-detail [data-testid=order-status]")).to_have_text(
        "in progress"
    )

    form = page.locator("[data-testid=awb-form]")
    await form.locator("[data-testid=awb-courier] option").nth(2).wait_for(state="attached")
    await form.locator("[data-testid=awb-courier]").select_option("2")
    for name, value in (
        ("sender_name", "MagFlow Test SRL"),
        ("sender_contact", "Ion Popescu"),
        ("sender_phone", "0722000111"),
        ("sender_locality_id", "8801"),
        ("sender_street", "Strada Depozitului 1"),
        ("parcel_number", "2"),
    ):
        await form.locator(f"input[name={name}]").fill(value)
    await form.locator("[data-testid=awb-submit]").click()
    await expect(page.locator("#order-detail .flash-ok")).to_contain_text("AWB ")
    number = await page.locator("[data-testid=awb-number]").inner_text()
    assert number
    await expect(page.locator("#order-detail .flash-ok")).to_contain_text(f"AWB {number} created")
    # The order has its AWB now: shown, and no form offers a second one (nor after a reload).
    await expect(page.locator("[data-testid=awb-form]")).to_have_count(0)
    await page.reload()
    await expect(page.locator("[data-testid=awb-number]")).to_have_text(number)
    await expect(page.locator("[data-testid=awb-form]")).to_have_count(0)
    await expect(page.locator("#order-detail [data-testid=order-status]")).to_have_text("finalized")
    sim_order = await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{emag_id}")
    assert sim_order["status"] == 4
    async with ctx.db.session() as session:
        stored = await session.get(EmagOrder, order_id)
        assert stored is not None and stored.awb_number == number
