"""Viewers page through orders and customers without their personal data: names as initials,
phones as their last three digits, in listings, details and the order export."""

from __future__ import annotations

import csv
import io

import pytest

from magflow.common.privacy import mask_name, mask_phone
from magflow.context import AppContext
from magflow.emag_sim import SimConfig
from magflow.sync.models import SyncKind
from tests.orders.support import Clients, clients, small_sim_config
from tests.support.simulation import Accounts, sync

__all__ = ["clients"]


@pytest.fixture
def sim_config() -> SimConfig:
    return small_sim_config(offers=5, orders=40)


def test_masks() -> None:
    assert mask_name("Ana-Maria Popescu") == "A. M. P."
    assert mask_phone("+40 722 000 123") == "••••••••123"
    assert mask_phone("12") == "•••"


async def test_viewers_see_initials_and_last_digits(
    ctx: AppContext, accounts: Accounts, clients: Clients
) -> None:
    await sync(ctx, accounts.main, SyncKind.orders)
    full = (await clients.operator.get("/api/v1/emag/orders", params={"limit": 500})).json()
    masked = (await clients.viewer.get("/api/v1/emag/orders", params={"limit": 500})).json()
    names = {o["id"]: o["customer_name"] for o in full["items"] if o["customer_name"]}
    assert names
    for order in masked["items"]:
        if order["id"] in names:
            assert order["customer_name"] == mask_name(names[order["id"]])
            assert order["customer_name"] != names[order["id"]]

    order_id = next(iter(names))
    detail = (await clients.viewer.get(f"/api/v1/emag/orders/{order_id}")).json()
    original = (await clients.operator.get(f"/api/v1/emag/orders/{order_id}")).json()
    assert detail["customer_name"] == mask_name(original["customer_name"])
    for key, value in original["customer"].items():
        if isinstance(value, str) and value and ("phone" in key or "name" in key):
            assert detail["customer"][key] != value, key

    customers = (
        await clients.viewer.get("/api/v1/admin/emag-customers", params={"limit": 500})
    ).json()["items"]
    plain = {
        c["id"]: c
        for c in (
            await clients.admin.get("/api/v1/admin/emag-customers", params={"limit": 500})
        ).json()["items"]
    }
    assert customers
    for customer in customers:
        real = plain[customer["id"]]
        assert customer["name"] == mask_name(real["name"])
        assert customer["phone"] == mask_phone(real["phone"])
        if real["phone"]:
            assert real["phone"] not in str(customer)
    # A customer's own page, too.
    one = customers[0]
    seen = (await clients.viewer.get(f"/api/v1/admin/emag-customers/{one['id']}")).json()
    real = (await clients.admin.get(f"/api/v1/admin/emag-customers/{one['id']}")).json()
    assert seen["customer"] == one
    assert seen["customer"]["name"] == mask_name(real["customer"]["name"])
    assert seen["customer"]["phone"] == mask_phone(real["customer"]["phone"])

    export = await clients.viewer.get("/api/v1/emag/orders/export", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows and not set(names.values()) & {r["customer_name"] for r in rows}
    operator_export = await clients.operator.get(
        "/api/v1/emag/orders/export", params={"format": "csv"}
    )
    assert set(names.values()) <= {
        r["customer_name"]
        for r in csv.DictReader(io.StringIO(operator_export.content.decode("utf-8-sig")))
    }
