"""Romania's SGR deposit (``recycle_warranties`` on order lines): counted in the order total with
VAT, hence in the COD amount of an AWB; and the currency each payload states."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from magflow.accounts.schemas import PlatformCode
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.customers.models import EmagCustomer
from magflow.emag.platforms import Platform, platform_info
from magflow.emag_sim import SimulatorServer
from magflow.orders.mapping import deposit_with_vat, order_row, order_totals
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind, SyncStatus
from tests.factories import make_account
from tests.orders.support import Clients, sim_control, small_sim_config
from tests.orders.test_actions import SENDER, local_orders
from tests.support.simulation import Accounts, sync

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _line(**extra: Any) -> dict[str, Any]:
    return {"status": 1, "quantity": "2", "sale_price": "10.0000", "vat": "0.2100", **extra}


def _deposit(quantity: Any = 2, vat_rate: Any = "0.21") -> dict[str, Any]:
    return {
        "quantity": quantity,
        "sale_price": "0.5000",
        "vat_rate": vat_rate,
        "product_name": "Garantie SGR",
        "recycle_warranty_voucher_split": [],
    }


def test_deposit_is_added_with_its_vat_to_the_total_with_vat_only() -> None:
    # 2 x 10.00 at 21 %: 20.00 net, 24.20 gross; deposit 2 x 0.50 at 21 %: 1.21; shipping 15.99
    raw = {"products": [_line(recycle_warranties=[_deposit()])], "shipping_tax": "15.99"}
    net, gross = order_totals(raw)
    assert net == Decimal("20.0000")
    assert gross == Decimal("41.4000")  # 24.20 + 1.21 + 15.99
    without = order_totals({"products": [_line()], "shipping_tax": "15.99"})
    assert without == (Decimal("20.0000"), Decimal("40.1900"))


def test_deposit_of_a_removed_line_is_not_counted_and_percent_rates_are_read() -> None:
    removed = _line(status=0, recycle_warranties=[_deposit(quantity="6")])
    kept = _line(recycle_warranties=[_deposit(quantity="3", vat_rate="21"), "junk", _deposit()])
    # kept line 24.20; deposits 3 x 0.50 x 1.21 = 1.815 and 2 x 0.50 x 1.21 = 1.21
    assert deposit_with_vat(kept) == Decimal("3.025")
    assert order_totals({"products": [removed, kept]}) == (Decimal("20.0000"), Decimal("27.2250"))
    # PHP's empty list for "none" and a missing field count nothing
    assert deposit_with_vat(_line(recycle_warranties=[])) == 0
    assert deposit_with_vat(_line(recycle_warranties=None)) == 0


def test_order_row_totals_include_the_deposit_and_keep_the_payload_currency() -> None:
    raw = {
        "id": 1,
        "status": 1,
        "currency": "EUR",
        "products": [_line(recycle_warranties=[_deposit()])],
    }
    common: dict[str, Any] = {
        "account_id": 1,
        "platform": "bg",
        "run_id": 1,
        "now": NOW,
        "currency": "BGN",
        "tz": ZoneInfo("Europe/Sofia"),
        "previous_status": None,
        "previous_history": None,
    }
    row = order_row(raw, **common)
    assert row["total_with_vat"] == Decimal("25.4100")
    assert row["total_without_vat"] == Decimal("20.0000")
    assert row["currency"] == "EUR"  # the payload's, not the fallback
    no_currency = {k: v for k, v in raw.items() if k != "currency"}
    assert order_row(no_currency, **common)["currency"] == "BGN"  # fallback only when absent
    # eMAG BG is in EUR since 1 January 2026: the platform's fallback says so.
    assert platform_info(Platform.BG).currency == "EUR"
    assert platform_info(Platform.RO).currency == "RON"


async def test_awb_default_cod_collects_the_deposit(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    created = (
        await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 60})
    )["created"]
    await sync(ctx, accounts.main, SyncKind.orders)
    stored = await local_orders(ctx, accounts.main.id)
    candidates = [
        stored[int(i)]
        for i in created
        if stored[int(i)].payment_mode_id == 1
        and any(line.get("recycle_warranties") for line in stored[int(i)].products or [])
    ]
    assert candidates, "the simulator served no COD order with an SGR deposit"
    order = candidates[0]
    raw = order.raw
    # The COD amount computed here from the payload, independently of the mapping.
    goods = sum(
        Decimal(str(line["quantity"])) * Decimal(line["sale_price"]) * (1 + Decimal(line["vat"]))
        for line in raw["products"]
        if int(line["status"]) == 1
    )
    deposit = sum(
        Decimal(str(w["quantity"])) * Decimal(w["sale_price"]) * (1 + Decimal(w["vat_rate"]))
        for line in raw["products"]
        if int(line["status"]) == 1
        for w in line["recycle_warranties"]
    )
    vouchers = sum(Decimal(v["sale_price"]) + Decimal(v["sale_price_vat"]) for v in raw["vouchers"])
    expected = (goods + deposit + vouchers + Decimal(raw["shipping_tax"])).quantize(
        Decimal("0.0001")
    )
    assert deposit > 0
    assert order.total_with_vat == expected
    # The customer's revenue counts the deposit too: it adds up the kept orders' totals.
    async with ctx.db.session() as session:
        customer = (
            await session.execute(
                select(EmagCustomer).where(EmagCustomer.customer_key == order.customer_key)
            )
        ).scalar_one()
        theirs = (
            (
                await session.execute(
                    select(EmagOrder).where(EmagOrder.customer_key == order.customer_key)
                )
            )
            .scalars()
            .all()
        )
    kept = [o.total_with_vat for o in theirs if o.status not in (0, 5)]
    assert order.status not in (0, 5) and customer.total_spent == sum(kept)

    api = clients.operator
    assert (await api.post(f"/api/v1/emag/orders/{order.id}/acknowledge")).status_code == 200
    response = await api.post(
        f"/api/v1/emag/orders/{order.id}/awb", json={"sender": SENDER, "parcel_number": 1}
    )
    assert response.status_code == 200, response.text
    assert Decimal(str(response.json()["awb"]["cod"])) == expected
    log = (await clients.admin.get("/api/v1/audit", params={"account": "main"})).json()
    awb = next(item for item in log["items"] if item["action"] == "orders.awb")
    assert awb["success"] is True
    assert Decimal(str(awb["request"]["data"]["cod"])) == expected


async def test_a_bg_account_stores_offers_orders_and_customers_in_eur(ctx: AppContext) -> None:
    config = small_sim_config(offers=15, orders=30)
    config = replace(config, platform="bg")
    with SimulatorServer(config) as bg:
        sim_account = bg.accounts[0]
        account = await make_account(
            ctx,
            name="bg-main",
            platform=PlatformCode.bg,
            username=sim_account.username,
            password=sim_account.password,
            base_url=bg.base_url,
        )
        for kind in (SyncKind.offers, SyncKind.orders):
            assert (await sync(ctx, account, kind)).status == SyncStatus.completed
    async with ctx.db.session() as session:
        offers = (
            (
                await session.execute(
                    select(EmagOffer.currency).where(EmagOffer.account_id == account.id)
                )
            )
            .scalars()
            .all()
        )
        orders = (
            (await session.execute(select(EmagOrder).where(EmagOrder.account_id == account.id)))
            .scalars()
            .all()
        )
        customers = (
            (
                await session.execute(
                    select(EmagCustomer.currency).where(EmagCustomer.platform == "bg")
                )
            )
            .scalars()
            .all()
        )
    assert offers and set(offers) == {"EUR"}
    assert orders and {o.currency for o in orders} == {"EUR"}
    assert all(o.raw["currency"] == "EUR" for o in orders)
    # eMAG BG has no SGR deposit: the totals are the lines, vouchers and shipping alone
    assert all(w == [] for o in orders for line in o.products for w in [line["recycle_warranties"]])
    assert customers and set(customers) == {"EUR"}
