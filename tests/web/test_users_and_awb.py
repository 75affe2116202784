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
from tests.support.auth import auth_headers
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

    # An admin sets the account's sender defaults: the form says so and needs no sender now.
    async with httpx.AsyncClient(base_url=dashboard.url) as client:
        headers = await auth_headers(client, dashboard.users.admin)
        sender = {
            "name": "MagFlow Test SRL",
            "contact": "Ion Popescu",
            "phone1": "0722 000 111",
            "locality_id": 8801,
            "street": "Strada Depozitului 1",
        }
        saved = await client.patch(
            "/api/v1/accounts/main", headers=headers, json={"awb_sender": sender}
        )
        assert saved.status_code == 200, saved.text
    await page.reload()
    await expect(page.locator("[data-testid=awb-sender-defaults]")).to_contain_text(
        "MagFlow Test SRL"
    )
    form = page.locator("[data-testid=awb-form]")
    await form.locator("[data-testid=awb-courier] option").nth(2).wait_for(state="attached")
    await form.locator("[data-testid=awb-courier]").select_option("2")
    await form.locator("input[name=parcel_number]").fill("2")
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
    # The print buttons fetch the label through the operator's session.
    href = await page.locator("[data-testid=awb-print-A6]").get_attribute("href")
    assert href == f"/orders/{order_id}/awb/label?format=A6"
    label = await page.request.get(dashboard.url + href)
    assert label.status == 200 and label.headers["content-type"] == "application/pdf"
    assert (await label.body()).startswith(b"%PDF")
    sim_order = await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{emag_id}")
    assert sim_order["status"] == 4
    async with ctx.db.session() as session:
        stored = await session.get(EmagOrder, order_id)
        assert stored is not None and stored.awb_number == number


async def test_admin_sets_an_accounts_awb_sender(page: Page, dashboard: Dashboard) -> None:
    await log_in(page, dashboard, dashboard.users.admin, "/admin")
    row = page.locator("[data-testid=sender-main]")
    await expect(row.locator("summary")).to_contain_text("not set")
    await row.locator("summary").click()
    form = row.locator("[data-testid=sender-form-main]")
    # The eMAG addresses (addresses/read) fill the address select.
    await form.get_by_role("button", name="Load from eMAG").click()
    select = form.locator("[data-testid=address-select]")
    await expect(select.locator("option")).to_have_count(3)
    pickup = await select.locator("option", has_text="pickup").get_attribute("value")
    assert pickup
    await select.select_option(pickup)
    await form.locator("input[name=sender_name]").fill("MagFlow Test SRL")
    await form.locator("input[name=contact]").fill("Depozit")
    await form.locator("input[name=phone1]").fill("+40 722 000 111")
    await form.get_by_role("button", name="Save sender").click()
    await expect(page.locator("#accounts .flash-ok")).to_contain_text("AWB sender of main saved")
    summary = page.locator("[data-testid=sender-main] summary")
    await expect(summary).to_contain_text(f"eMAG address {pickup}")
    # A phone eMAG would refuse: the API's message, nothing saved.
    row = page.locator("[data-testid=sender-main]")
    await row.locator("summary").click()
    await row.locator("input[name=phone1]").fill("12 34")
    await row.get_by_role("button", name="Save sender").click()
    await expect(page.locator("#accounts .flash-error")).to_contain_text("8 to 11 digits")
    await expect(page.locator("[data-testid=sender-main] input[name=phone1]")).to_have_value(
        "+40722000111"
    )
    # Removed: not set any more.
    row = page.locator("[data-testid=sender-main]")
    await row.locator("summary").click()
    await row.get_by_role("button", name="Remove", exact=True).click()
    await expect(page.locator("#accounts .flash-ok")).to_contain_text("AWB sender of main removed")
    await expect(page.locator("[data-testid=sender-main] summary")).to_contain_text("not set")
