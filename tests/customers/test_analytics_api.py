"""``GET /api/v1/admin/emag-customers`` and ``.../{id}`` through the app under uvicorn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from magflow.accounts.models import AccountType
from magflow.context import AppContext
from tests.customers.test_analytics_db import customer_row, insert_customers, insert_orders
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers

PATH = "/api/v1/admin/emag-customers"


async def test_listing_rows_summary_filters_and_sort(ctx: AppContext, api: str) -> None:
    user = await make_user(ctx)
    main = await make_account(ctx, account_type=AccountType.main)
    fbe = await make_account(ctx, account_type=AccountType.fbe)
    now = datetime.now(UTC)
    rows = [
        customer_row(  # gold, main only, active, new this month, repeat
            name="Ana Pop",
            orders_count=4,
            total_spent=Decimal("2400"),
            main_orders=4,
            fbe_orders=0,
            first_order_at=now - timedelta(minutes=5),
            last_order_at=now - timedelta(minutes=1),
        ),
        customer_row(  # silver, mixed, risky (2 of 2 cancelled, COD)
            name="Ion Ionescu",
            orders_count=3,
            cancelled_count=2,
            cod_count=3,
            total_spent=Decimal("500"),
            main_orders=2,
            fbe_orders=1,
            first_order_at=now - timedelta(days=200),
            last_order_at=now - timedelta(days=100),
        ),
        customer_row(  # bronze, fbe, one order long ago
            name="Maria",
            orders_count=1,
            total_spent=Decimal("99"),
            main_orders=0,
            fbe_orders=1,
            first_order_at=now - timedelta(days=400),
            last_order_at=now - timedelta(days=400),
        ),
    ]
    ids = await insert_customers(
        ctx, rows, accounts={0: [main.id], 1: [main.id, fbe.id], 2: [fbe.id]}
    )
    async with httpx.AsyncClient(base_url=api) as client:
        assert (await client.get(PATH)).status_code == 401
        headers = await auth_headers(client, user.email)
        response = await client.get(PATH, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == 3 and body["limit"] == 50
        assert [item["id"] for item in body["items"]] == ids  # spend, highest first
        ana = body["items"][0]
        assert ana["tier"] == "gold" and ana["preferred_channel"] == "main"
        assert ana["average_order_value"] == "600.0000" and ana["kept_orders"] == 4
        assert ana["risk_level"] == "low" and 0 <= ana["loyalty_score"] <= 100
        ion = body["items"][1]
        assert (ion["tier"], ion["preferred_channel"], ion["risk_level"]) == (
            "silver",
            "mixed",
            "high",
        )
        assert body["items"][2]["preferred_channel"] == "fbe"
        summary = body["summary"]
        assert summary["total_customers"] == 3
        assert summary["active_customers"] == 1
        assert summary["repeat_customers"] == 1  # Ion kept 1 (3 - 2 cancelled)
        assert summary["repeat_customer_rate"] == round(1 / 3, 4)
        assert summary["channel_distribution"] == {"main": 1, "fbe": 1, "mixed": 1, "none": 0}
        assert summary["tier_distribution"] == {"bronze": 1, "silver": 1, "gold": 1, "platinum": 0}
        assert sum(summary["loyalty_distribution"].values()) == 3
        assert summary["spend_by_currency"] == {"RON": "2999.0000"}
        # Only Ana's first order can be this month's (the others' are 200 and 400 days old), and
        # not when the test runs in the first minutes of a month.
        month_start = datetime.fromisoformat(summary["month_start"])
        ana_is_new = now - timedelta(minutes=5) >= month_start
        assert summary["new_this_month"] == int(ana_is_new)

        async def ids_of(**params: object) -> list[int]:
            reply = await client.get(PATH, params=params, headers=headers)
            assert reply.status_code == 200, reply.text
            return [item["id"] for item in reply.json()["items"]]

        assert await ids_of(tier="gold") == [ids[0]]
        assert await ids_of(tier=["gold", "bronze"]) == [ids[0], ids[2]]
        assert await ids_of(risk="high") == [ids[1]]
        assert await ids_of(channel="mixed") == [ids[1]]
        assert await ids_of(account=fbe.name) == [ids[1], ids[2]]
        assert await ids_of(account=str(main.id), channel="main") == [ids[0]]
        assert await ids_of(search="ionescu") == [ids[1]]
        assert await ids_of(sort="last_order", order="asc") == [ids[2], ids[1], ids[0]]
        assert (await ids_of(sort="loyalty"))[0] == ids[0]
        assert await ids_of(skip=1, limit=1) == [ids[1]]

        filtered = await client.get(PATH, params={"account": fbe.name}, headers=headers)
        assert filtered.json()["summary"]["total_customers"] == 2  # the account's customers
        bare = await client.get(PATH, params={"with_summary": "false"}, headers=headers)
        assert bare.json()["summary"] is None

        for bad in ({"limit": 501}, {"tier": "diamond"}, {"sort": "nope"}, {"loyalty_min": 101}):
            assert (await client.get(PATH, params=bad, headers=headers)).status_code == 422
        assert (
            await client.get(PATH, params={"account": "nope"}, headers=headers)
        ).status_code == 404

        # The summary is cached: a new customer shows in the page at once, in the summary (and
        # the unfiltered total, which is the summary's) later: the cache is cleared when a sync
        # run ends. A filtered listing counts afresh.
        await insert_customers(ctx, [customer_row(total_spent=Decimal("1"))])
        again = (await client.get(PATH, headers=headers)).json()
        assert len(again["items"]) == 4
        assert again["summary"] == summary and again["total"] == 3
        fresh = await client.get(PATH, params={"tier": "bronze"}, headers=headers)
        assert fresh.json()["total"] == 2
        bare = await client.get(PATH, params={"with_summary": "false"}, headers=headers)
        assert bare.json()["total"] == 4


async def test_customer_detail_with_orders(ctx: AppContext, api: str) -> None:
    user = await make_user(ctx)
    account = await make_account(ctx)
    [customer_id, other_id] = await insert_customers(
        ctx, [customer_row(orders_count=3), customer_row()], accounts={0: [account.id]}
    )
    async with ctx.db.session() as session:
        from magflow.customers.models import EmagCustomer

        key = (await session.get(EmagCustomer, customer_id)).customer_key  # type: ignore[union-attr]
        other_key = (await session.get(EmagCustomer, other_id)).customer_key  # type: ignore[union-attr]
    base = datetime(2026, 5, 1, tzinfo=UTC)
    await insert_orders(
        ctx,
        [
            {"account_id": account.id, "customer_key": key, "order_date": base + timedelta(days=d)}
            for d in range(3)
        ]
        + [{"account_id": account.id, "customer_key": other_key, "order_date": base}],
    )
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, user.email)
        response = await client.get(f"{PATH}/{customer_id}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["customer"]["id"] == customer_id
        assert body["accounts"] == [
            {
                "account_id": account.id,
                "orders_count": 3,
                "total_spent": "100.0000",
                "spend_by_currency": {},
            }
        ]
        orders = body["orders"]
        assert orders["total"] == 3
        dates = [o["order_date"] for o in orders["items"]]
        assert dates == sorted(dates, reverse=True)
        assert {o["customer_key"] for o in orders["items"]} == {key}
        page = (
            await client.get(
                f"{PATH}/{customer_id}", params={"skip": 2, "limit": 1}, headers=headers
            )
        ).json()["orders"]
        assert (page["total"], len(page["items"])) == (3, 1)
        assert (await client.get(f"{PATH}/999999", headers=headers)).status_code == 404
        # Literal paths under the prefix are not taken for an id.
        assert (await client.get(f"{PATH}/abc", headers=headers)).status_code == 404
