"""Browser tests of the dashboard's pages: embedded JSON is inert, the overview reads the daily
API, the order page (one time zone, attachments, AWB), exports follow the filters, phone width,
the favicon."""

from __future__ import annotations

import itertools
import os
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Browser, Page, expect

from magflow.context import AppContext
from magflow.emag.codes import OrderStatus
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from magflow.web.templating import HERE
from tests.conftest import Backend
from tests.factories import DEFAULT_PASSWORD
from tests.support.simulation import sync
from tests.web.conftest import Dashboard, log_in

BUCHAREST = ZoneInfo("Europe/Bucharest")
INJECTED = "</script><b id=x>"
_ids = itertools.count(8_800_001)


async def store_order(ctx: AppContext, account_id: int, **fields: Any) -> int:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "status": int(OrderStatus.IN_PROGRESS),
        "order_date": now,
        "currency": "RON",
        "total_with_vat": Decimal("10"),
        "customer_name": "Test Customer",
        "raw": {},
        "last_seen_at": now,
        **fields,
    }
    async with ctx.db.session() as session:
        order = EmagOrder(account_id=account_id, emag_id=next(_ids), **values)
        session.add(order)
        await session.commit()
        return order.id


async def api_get(dashboard: Dashboard, path: str, params: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=dashboard.url) as client:
        login = await client.post(
            "/api/v1/auth/login",
            data={"username": dashboard.users.admin, "password": DEFAULT_PASSWORD},
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


async def test_embedded_json_cannot_inject_markup(
    ctx: AppContext, backend: Backend, page: Page, dashboard: Dashboard
) -> None:
    # SQLite does not enforce String(3): a currency stored as markup that closes the script
    # element. PostgreSQL does, so there three characters that JSON alone leaves as they are.
    # The largest revenue today, so that it is the chart's currency, embedded in the page's JSON.
    value = INJECTED if backend.name == "sqlite" else "<&>"
    await store_order(ctx, dashboard.accounts.main.id, currency=value, total_with_vat=10**6)
    await log_in(page, dashboard, dashboard.users.admin, "/")
    assert await page.locator("#x").count() == 0
    assert await page.locator("main b").count() == 0
    data = await page.locator("#orders-chart-data").text_content()
    assert data is not None and not set("<>&") & set(data), data
    currency = await page.evaluate(
        "JSON.parse(document.getElementById('orders-chart-data').textContent).currency"
    )
    assert currency == value  # escaped for HTML, the same value for the script
    await expect(page.locator("[data-testid=kpi-today]")).to_have_text(re.compile(r"\d+"))
    await expect(page.locator(".kpis")).to_contain_text(value)  # as text, not markup
    drawn = await page.evaluate("!!Chart.getChart(document.getElementById('orders-chart'))")
    assert drawn


def test_no_template_marks_data_safe() -> None:
    for template in (HERE / "templates").glob("*.html"):
        text = template.read_text()
        assert not re.search(r"\|\s*safe\b", text), template.name
        for name in ("ORDER_STATUSES", "OFFER_STATUSES"):
            assert name not in text, template.name


async def test_overview_reads_orders_per_day_from_the_api(
    ctx: AppContext, page: Page, dashboard: Dashboard
) -> None:
    main = dashboard.accounts.main.id
    today = datetime.now(BUCHAREST).date()
    # 00:10 in Bucharest is the previous day in UTC: on the overview it is today's.
    midnight = datetime.combine(today, datetime.min.time(), BUCHAREST) + timedelta(minutes=10)
    await store_order(ctx, main, order_date=midnight.astimezone(UTC), total_with_vat=100)
    await store_order(ctx, main, order_date=midnight.astimezone(UTC), total_with_vat=50)
    await store_order(ctx, main, order_date=midnight - timedelta(days=3), total_with_vat=7)
    await store_order(
        ctx, main, order_date=midnight, total_with_vat=1000, status=int(OrderStatus.CANCELLED)
    )
    daily = await api_get(dashboard, "/api/v1/emag/orders/daily", {"days": 30})
    assert daily["timezone"] == "Europe/Bucharest"
    assert daily["items"][-1]["orders"] == 3

    await log_in(page, dashboard, dashboard.users.viewer, "/")
    await expect(page.locator("[data-testid=kpi-today]")).to_have_text("3")
    kpis = page.locator(".kpis .kpi")
    await expect(kpis.nth(0)).to_contain_text("150.00 RON")
    await expect(kpis.nth(1)).to_contain_text("4")
    await expect(kpis.nth(1)).to_contain_text("157.00 RON")
    await expect(page.locator("[data-testid=chart-zone]")).to_contain_text("Europe/Bucharest")
    chart = await page.evaluate(
        "JSON.parse(document.getElementById('orders-chart-data').textContent)"
    )
    assert chart["orders"] == [item["orders"] for item in daily["items"]]
    assert chart["orders"][-1] == 3 and chart["revenue"][-1] == 150.0
    assert chart["labels"][-1] == today.isoformat()[5:]


async def test_order_page_one_zone_attachments_and_awb(
    ctx: AppContext, page: Page, dashboard: Dashboard
) -> None:
    placed = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)  # 00:30 EEST on 2 July in Bucharest
    acknowledged = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)  # 10:00 EET
    order_id = await store_order(
        ctx,
        dashboard.accounts.main.id,
        order_date=placed,
        acknowledged_at=acknowledged,
        awb_number="4EMGLN123456",
        status_history=[{"status": 2, "at": "2026-07-02T06:00:00+00:00"}],
        attachments=[
            {"name": "Invoice 77", "type": 1, "url": "https://files.example/inv77.pdf"},
            {"name": "Odd", "type": 3, "url": "javascript:alert(1)"},
        ],
    )
    without_awb = await store_order(ctx, dashboard.accounts.main.id)
    await log_in(page, dashboard, dashboard.users.operator, f"/orders/{order_id}")
    await expect(page.locator("[data-testid=order-zone]")).to_contain_text("Europe/Bucharest")
    await expect(page.locator("[data-testid=order-date]")).to_have_text("2026-07-02 00:30 EEST")
    await expect(page.locator(".facts").first).to_contain_text("2026-01-10 10:00 EET")
    await expect(page.locator(".history")).to_contain_text("2026-07-02 09:00 EEST in progress")
    rows = page.locator("[data-testid=attachments] tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("Invoice 77")
    await expect(rows.nth(0)).to_contain_text("invoice")
    link = rows.nth(0).locator("a")
    await expect(link).to_have_attribute("href", "https://files.example/inv77.pdf")
    await expect(rows.nth(1)).to_contain_text("warranty")
    await expect(rows.nth(1)).to_contain_text("javascript:alert(1)")
    assert await rows.nth(1).locator("a").count() == 0  # never a javascript: link
    # An AWB exists: it is shown, and no form offers another one.
    await expect(page.locator("[data-testid=awb-number]")).to_have_text("4EMGLN123456")
    assert await page.locator("[data-testid=awb-form]").count() == 0

    await page.goto(f"{dashboard.url}/orders/{without_awb}")
    await expect(page.locator("[data-testid=awb-form]")).to_have_count(1)
    await expect(page.locator("[data-testid=attachments]")).to_contain_text("No attachment")


def export_query(href: str | None) -> dict[str, list[str]]:
    assert href is not None
    return parse_qs(urlsplit(href).query)


async def test_export_links_follow_the_filters(
    ctx: AppContext, page: Page, dashboard: Dashboard
) -> None:
    await sync(ctx, dashboard.accounts.main, SyncKind.orders)
    await log_in(page, dashboard, dashboard.users.admin, "/customers?search=a&sort=orders")
    csv = page.locator("[data-testid=exports] a").first
    assert export_query(await csv.get_attribute("href")) == {
        "search": ["a"],
        "sort": ["orders"],
        "format": ["csv"],
    }
    # Changed in place (htmx): the links follow, every filter of the page included (the export
    # is the listing's rows and filters).
    await page.select_option("select[name=sort]", "last_order")
    await page.select_option("select[name=channel]", "main")
    await expect(page).to_have_url(re.compile(r"channel=main"))
    await expect(csv).to_have_attribute("href", re.compile(r"sort=last_order"))
    await expect(csv).to_have_attribute("href", re.compile(r"channel=main"))
    async with page.expect_download() as download:
        await csv.click()
    assert (await download.value).suggested_filename.endswith(".csv")

    await page.goto(dashboard.url + "/orders")
    await page.select_option("select[name=status]", str(int(OrderStatus.NEW)))
    await page.select_option("select[name=account]", "main")
    orders_csv = page.locator("[data-testid=exports] a").first
    await expect(orders_csv).to_have_attribute("href", re.compile(r"account=main"))
    assert export_query(await orders_csv.get_attribute("href"))["status"] == ["1"]

    await page.goto(dashboard.url + "/offers")
    await page.select_option("select[name=stock]", "out")
    offers_csv = page.locator("[data-testid=exports] a").first
    await expect(offers_csv).to_have_attribute("href", re.compile(r"in_stock=false"))


async def test_orders_table_fits_a_375px_phone(
    ctx: AppContext, browser: Browser, dashboard: Dashboard, tmp_path: Path
) -> None:
    await sync(ctx, dashboard.accounts.main, SyncKind.orders)
    context = await browser.new_context(viewport={"width": 375, "height": 812})
    page = await context.new_page()
    try:
        await log_in(page, dashboard, dashboard.users.operator, "/orders")
        await expect(page.locator("[data-testid=orders] tbody tr").first).to_be_visible()
        folder = Path(os.environ.get("MAGFLOW_SCREENSHOTS") or tmp_path)
        await page.locator("[data-testid=orders]").scroll_into_view_if_needed()
        await page.screenshot(path=folder / "orders-375.png")
        widths = await page.evaluate(
            """() => { const wrap = document.querySelector('[data-testid=orders]')
                          .closest('.table-wrap');
               return {page: document.documentElement.scrollWidth, view: window.innerWidth,
                       wrap: wrap.clientWidth, table: wrap.scrollWidth,
                       right: wrap.getBoundingClientRect().right}; }"""
        )
        # Nothing is cut: the rows reflow into the width, no sideways scrolling at all.
        assert widths["page"] <= widths["view"], widths
        assert widths["table"] <= widths["wrap"] and widths["right"] <= widths["view"], widths
        row = page.locator("[data-testid=orders] tbody tr").first
        for cell in await row.locator("td").all():
            box = await cell.bounding_box()
            if box is not None:  # hidden cells (no checkbox) have none
                assert box["x"] >= 0 and box["x"] + box["width"] <= widths["view"], box
        await expect(row.locator("td[data-label=Payment]")).to_be_visible()
    finally:
        await context.close()


async def test_favicon_is_served_and_linked(page: Page, dashboard: Dashboard) -> None:
    async with httpx.AsyncClient(base_url=dashboard.url) as client:
        icon = await client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    await log_in(page, dashboard, dashboard.users.admin, "/")
    for path in ("/", "/orders", "/offers", "/sync", "/customers", "/admin", "/users"):
        await page.goto(dashboard.url + path)
        await page.wait_for_load_state("networkidle")
        await expect(page.locator("link[rel=icon]")).to_have_attribute("href", "/favicon.ico")
    assert not missing, missing


async def test_fbe_orders_offer_no_acknowledgement_status_or_awb(
    ctx: AppContext, page: Page, dashboard: Dashboard
) -> None:
    """FBE orders (type 2, on any account) are eMAG's to handle (docs/emag-protocol.md,
    "Orders"): no checkbox in the list, not waiting for acknowledgement, and their page offers
    only the invoice; the type is shown."""
    main = dashboard.accounts.main.id
    new = int(OrderStatus.NEW)
    fbe = await store_order(ctx, main, status=new, order_type=2, customer_name="Fbe Buyer")
    seller = await store_order(ctx, main, status=new, order_type=3, customer_name="Own Buyer")
    await log_in(page, dashboard, dashboard.users.operator, "/")
    await expect(page.locator("[data-testid=kpi-waiting]")).to_have_text("1")

    await page.goto(f"{dashboard.url}/orders?status={new}")
    fbe_row = page.locator(f"tr[data-order='{fbe}']")
    await expect(fbe_row.locator("[data-testid=order-fbe]")).to_have_count(1)
    await expect(fbe_row.locator("input[name=selected]")).to_have_count(0)
    await expect(page.locator(f"tr[data-order='{seller}'] input[name=selected]")).to_have_count(1)

    await page.goto(f"{dashboard.url}/orders/{fbe}")
    await expect(page.locator("[data-testid=order-type]")).to_have_text("FBE (fulfilled by eMAG)")
    await expect(page.locator("[data-testid=fbe-note]")).to_have_count(1)
    for testid in ("acknowledge", "status-form", "awb-form"):
        await expect(page.locator(f"[data-testid={testid}]")).to_have_count(0)
    # the invoice (issued elsewhere, by URL) is attached from the invoice block
    await expect(page.locator("[data-testid=invoice-attach-url]")).to_have_count(1)

    await page.goto(f"{dashboard.url}/orders/{seller}")
    await expect(page.locator("[data-testid=order-type]")).to_have_text("fulfilled by seller")
    await expect(page.locator("[data-testid=acknowledge]")).to_have_count(1)
    await expect(page.locator("[data-testid=status-form]")).to_have_count(1)
