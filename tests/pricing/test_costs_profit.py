"""Unit costs (JSON, CSV, XLSX: all rows or none), commissions, fixed costs, profit per offer,
eMAG's commission estimate and the profit report over synced orders."""

from __future__ import annotations

import io
from decimal import Decimal as D

import httpx
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from magflow.auth.models import Role
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag.coerce import to_decimal, to_int, to_list
from magflow.emag_sim.pricing_routes import commission_percent
from magflow.orders.mapping import deposit_with_vat
from magflow.orders.models import EmagOrder
from magflow.pricing.models import OfferCost
from magflow.sync.models import SyncKind
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.orders.support import Clients
from tests.pricing.test_history import local_id
from tests.support.simulation import Accounts, sync

MAIN = {"account": "main"}


async def cost_rows(ctx: AppContext) -> int:
    async with ctx.db.session() as session:
        return int((await session.execute(select(func.count(OfferCost.id)))).scalar_one())


async def test_costs_commissions_profit_and_report(
    ctx: AppContext, accounts: Accounts, clients: Clients, api: str
) -> None:
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    assert (await sync(ctx, accounts.main, SyncKind.orders)).status == "completed"
    op = clients.operator

    # A bad row refuses the whole import, with every row's result.
    bad = await op.put(
        "/api/v1/pricing/costs",
        params=MAIN,
        json={
            "items": [
                {"offer_id": 1, "unit_cost": "10.5"},
                {"offer_id": 999999, "unit_cost": "3"},
                {"offer_id": 2, "unit_cost": "-1"},
                {"offer_id": 3, "unit_cost": "4", "currency": "EUR"},
            ]
        },
    )
    assert bad.status_code == 422, bad.text
    results = bad.json()["detail"]["results"]
    assert [r["status"] for r in results] == ["ok", "invalid", "invalid", "invalid"]
    assert "does not exist" in results[1]["errors"][0]
    assert "0 or more" in results[2]["errors"][0]
    assert "offer's currency" in results[3]["errors"][0]
    assert await cost_rows(ctx) == 0

    # A CSV with a bad row: nothing either; a good XLSX: every offer gets its cost.
    csv_bad = "offer_id;unit_cost\n1;10\n2;abc\n"
    upload = await op.post(
        "/api/v1/pricing/costs/upload", params=MAIN, files={"file": ("c.csv", csv_bad.encode())}
    )
    assert upload.status_code == 422 and await cost_rows(ctx) == 0
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Offer ID", "Unit cost"])
    for emag_id in range(1, 41):
        sheet.append([emag_id, 20 + emag_id])
    data = io.BytesIO()
    book.save(data)
    good = await op.post(
        "/api/v1/pricing/costs/upload", params=MAIN, files={"file": ("c.xlsx", data.getvalue())}
    )
    assert good.status_code == 200, good.text
    assert good.json()["imported"] == 40 and await cost_rows(ctx) == 40
    assert (
        await clients.viewer.put("/api/v1/pricing/costs", params=MAIN, json={"items": []})
    ).status_code in (403, 422)

    # The seller's commissions and fixed costs.
    offer1_id = await local_id(ctx, accounts.main.id, 1)
    offer1 = (await op.get(f"/api/v1/pricing/offers/{offer1_id}/profit")).json()
    assert offer1["known"] is False  # no commission yet: profit unknown
    estimate = await op.post(
        "/api/v1/pricing/commissions/estimate", params=MAIN, json={"offer_ids": [1, 999999]}
    )
    assert estimate.status_code == 200, estimate.text
    rates = {e["offer_id"]: e["rate"] for e in estimate.json()}
    async with ctx.db.session() as session:
        category_1 = (
            await session.execute(
                select(EmagOffer.category_id).where(
                    EmagOffer.account_id == accounts.main.id, EmagOffer.emag_id == 1
                )
            )
        ).scalar_one()
    assert D(rates[1]) == D(str(commission_percent(category_1))) / 100
    assert rates[999999] is None
    settings = await op.put(
        "/api/v1/pricing/settings",
        params=MAIN,
        json={
            "shipping_per_order": "4",
            "packaging_per_order": "1",
            "default_commission_rate": "0.1",
        },
    )
    assert settings.status_code == 200, settings.text
    put = await op.put(
        "/api/v1/pricing/commissions",
        params=MAIN,
        json={"items": [{"category_id": category_1, "rate": "0.12"}]},
    )
    assert put.status_code == 200, put.text

    # Profit of offer 1 at its price and at 100: P = p - 21 - 0.12 x p x (1 + vat) - 5.
    profit = (
        await op.get(f"/api/v1/pricing/offers/{offer1_id}/profit", params={"price": ["100"]})
    ).json()
    assert profit["known"] and D(profit["commission_rate"]) == D("0.12")
    vat = D(profit["vat_rate"])
    at_100 = profit["at"][1]
    assert D(at_100["profit"]) == (D(100) - 21 - D("0.12") * 100 * (1 + vat) - 5).quantize(
        D("0.0001")
    )

    # The report: revenue without VAT, the deposit apart, summed per currency. Reading never
    # writes: the lines are rebuilt after an orders sync or on demand.
    refreshed = await op.post("/api/v1/pricing/report/refresh", params=MAIN)
    assert refreshed.status_code == 200, refreshed.text
    report = await op.get(
        "/api/v1/pricing/report",
        params={**MAIN, "group": "day", "date_from": "2020-01-01", "date_to": "2030-01-01"},
    )
    assert report.status_code == 200, report.text
    rows = report.json()["rows"]
    async with ctx.db.session() as session:
        orders = (await session.execute(select(EmagOrder))).scalars().all()
    revenue = deposit = D(0)
    for order in orders:
        if order.account_id != accounts.main.id or order.status not in (1, 2, 3, 4):
            continue
        for line in to_list(order.products):
            if to_int(line.get("status")) == 0:
                continue
            revenue += (to_decimal(line["quantity"]) or 0) * (to_decimal(line["sale_price"]) or 0)
            deposit += deposit_with_vat(line)
        revenue += sum(
            (to_decimal(v.get("sale_price")) or D(0) for v in to_list(order.vouchers)), D(0)
        )
    assert {r["currency"] for r in rows} == {"RON"}
    assert abs(sum(D(r["revenue"]) for r in rows) - revenue) < D("0.01") * len(rows)
    assert abs(sum(D(r["deposit"]) for r in rows) - deposit) < D("0.01") * len(rows)
    assert deposit > 0  # the simulator's RO deposits: reported, not revenue
    for r in rows:
        expected = D(r["revenue"]) - D(r["cost"]) - D(r["commission"]) - D(r["shipping"])
        assert abs(D(r["profit"]) - expected) < D("0.01") * r["lines"]
        assert r["lines_without_cost"] == 0

    by_category = await op.get(
        "/api/v1/pricing/report",
        params={**MAIN, "group": "category", "date_from": "2020-01-01", "format": "xlsx"},
    )
    assert by_category.status_code == 200
    sheet_rows = list(
        load_workbook(io.BytesIO(by_category.content)).active.iter_rows(values_only=True)
    )  # type: ignore[union-attr]
    assert sheet_rows[0][0] == "category" and len(sheet_rows) > 1
    as_csv = await op.get(
        "/api/v1/pricing/report", params={**MAIN, "group": "offer", "format": "csv"}
    )
    assert as_csv.status_code == 200 and as_csv.text.startswith("offer,currency,")
    backwards = await op.get(
        "/api/v1/pricing/report",
        params={**MAIN, "date_from": "2026-02-01", "date_to": "2026-01-01"},
    )
    assert backwards.status_code == 422

    # The dashboard's profit page and its export.
    viewer = await make_user(ctx, role=Role.viewer)
    async with httpx.AsyncClient(base_url=api, timeout=30) as browser:
        login = await browser.post(
            "/login", data={"email": viewer.email, "password": DEFAULT_PASSWORD}
        )
        assert login.status_code == 303, login.text
        page = await browser.get("/profit", params={"group": "category", "date_from": "2020-01-01"})
        assert page.status_code == 200 and 'data-testid="profit-report"' in page.text
        assert "No sold order line" not in page.text
        exported = await browser.get(
            "/profit/export", params={"account": "main", "group": "day", "format": "csv"}
        )
        assert exported.status_code == 200 and exported.text.startswith("day,currency,")
