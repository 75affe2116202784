"""A customer whose orders come in two currencies (issue 13, point 7): a BG customer's BGN orders
of 2025 and EUR orders of 2026 (docs/emag-protocol.md, "Hosts and platforms"). Spend is kept per
currency and never added across currencies, in the customer's row, its detail and the summary;
the Python and SQL formulas still agree."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx

from magflow.accounts.schemas import PlatformCode
from magflow.context import AppContext
from magflow.customers.models import EmagCustomer
from magflow.customers.service import apply_order_changes
from tests.customers.test_deltas import NOW, customers, facts
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers

PATH = "/api/v1/admin/emag-customers"
KEY = "bg:id:7"


async def test_spend_in_two_currencies_is_never_added_up(ctx: AppContext, api: str) -> None:
    account = await make_account(ctx, platform=PlatformCode.bg)

    def order(total: str, currency: str, month: int, **more: object) -> object:
        return facts(
            account.id,
            platform="bg",
            customer_key=KEY,
            total_with_vat=Decimal(total),
            currency=currency,
            order_date=datetime(2025 if currency == "BGN" else 2026, month, 1, tzinfo=UTC),
            **more,
        )

    old_bgn = order("300", "BGN", 11)
    new_eur = [order("100", "EUR", 2), order("60", "EUR", 3)]
    async with ctx.db.session() as session:
        await apply_order_changes(session, [(None, old_bgn)], NOW)  # type: ignore[list-item]
        await session.commit()
    async with ctx.db.session() as session:  # a later page, and one written twice
        changes = [(None, o) for o in new_eur] + [(old_bgn, old_bgn)]
        await apply_order_changes(session, changes, NOW)  # type: ignore[arg-type]
        await session.commit()
    row: EmagCustomer = (await customers(ctx))[KEY]
    # The customer's currency is its first order's; only those orders are in total_spent.
    assert (row.currency, row.total_spent, row.spent_orders) == ("BGN", Decimal("300"), 1)
    assert row.orders_count == 3

    # One EUR order is cancelled: EUR spend moves, the BGN figure does not.
    async with ctx.db.session() as session:
        cancelled = order("60", "EUR", 3, status=0)
        await apply_order_changes(session, [(new_eur[1], cancelled)], NOW)  # type: ignore[list-item]
        await session.commit()

    # A RON customer whose average order (200) lies between the BG one's right (300 BGN over its
    # one BGN order) and wrong (300 over both kept orders: 150) averages.
    ro = await make_account(ctx)
    async with ctx.db.session() as session:
        await apply_order_changes(
            session,
            [(None, facts(ro.id, customer_key="ro:id:8", total_with_vat=Decimal("200")))],
            NOW,
        )
        await session.commit()

    user = await make_user(ctx)
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, user.email)
        listing = await client.get(PATH, headers=headers, params={"sort": "aov", "order": "asc"})
        assert listing.status_code == 200, listing.text
        # The SQL formula of the average order value (the sort) agrees with the Python one.
        assert [i["customer_key"] for i in listing.json()["items"]] == ["ro:id:8", KEY]
        item = listing.json()["items"][1]
        assert (item["currency"], item["total_spent"]) == ("BGN", "300.0000")
        assert (item["kept_orders"], item["orders_in_other_currencies"]) == (2, 1)
        assert item["average_order_value"] == "300.0000"  # 300 BGN over its one BGN order
        assert listing.json()["summary"]["spend_by_currency"] == {
            "BGN": "300.0000",
            "EUR": "100.0000",
            "RON": "200.0000",
        }

        detail = (await client.get(f"{PATH}/{item['id']}", headers=headers)).json()
        assert detail["spend"] == [
            {"account_id": account.id, "currency": "BGN", "orders": 1, "total_spent": "300.0000"},
            {"account_id": account.id, "currency": "EUR", "orders": 1, "total_spent": "100.0000"},
        ]
        (link,) = detail["accounts"]
        assert link["total_spent"] == "300.0000"
        assert link["spend_by_currency"] == {"BGN": "300.0000", "EUR": "100.0000"}
