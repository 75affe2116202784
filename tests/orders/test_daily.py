"""``GET /api/v1/emag/orders/daily``: orders and revenue per day and currency, counted on the
account's platform calendar, against the app under uvicorn."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from magflow.accounts.models import EmagAccount
from magflow.accounts.schemas import PlatformCode
from magflow.context import AppContext
from magflow.emag.codes import OrderStatus
from magflow.orders.models import EmagOrder
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers

BUCHAREST = ZoneInfo("Europe/Bucharest")
BUDAPEST = ZoneInfo("Europe/Budapest")
_ids = itertools.count(9_000_001)


def local(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), zone).astimezone(UTC)


async def add_order(
    ctx: AppContext,
    account: EmagAccount,
    when: datetime,
    total: str,
    currency: str | None = "RON",
    status: OrderStatus = OrderStatus.NEW,
) -> None:
    async with ctx.db.session() as session:
        session.add(
            EmagOrder(
                account_id=account.id,
                emag_id=next(_ids),
                status=int(status),
                order_date=when,
                currency=currency,
                total_with_vat=Decimal(total),
                raw={},
                last_seen_at=datetime.now(UTC),
            )
        )
        await session.commit()


def by_day(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["day"]: item for item in body["items"]}


def revenue(item: dict[str, Any]) -> dict[str, tuple[int, Decimal]]:
    return {c["currency"]: (c["orders"], Decimal(c["revenue"])) for c in item["currencies"]}


@pytest.fixture
async def headers(ctx: AppContext, api: str) -> dict[str, str]:
    user = await make_user(ctx)
    async with httpx.AsyncClient(base_url=api) as client:
        return await auth_headers(client, user.email)


async def test_days_are_the_platform_days_per_currency(
    ctx: AppContext, api: str, headers: dict[str, str]
) -> None:
    ro = await make_account(ctx, name="ro", platform=PlatformCode.ro)
    hu = await make_account(ctx, name="hu", platform=PlatformCode.hu)
    today = datetime.now(BUCHAREST).date()
    yesterday = today - timedelta(days=1)
    # 00:30 in Bucharest is still yesterday in UTC: counted today.
    await add_order(ctx, ro, local(today, 0, 30, BUCHAREST), "100.50")
    await add_order(ctx, ro, local(today, 0, 40, BUCHAREST), "9.50", currency="EUR")
    # Cancelled and returned: counted as orders, not as revenue.
    await add_order(ctx, ro, local(today, 0, 50, BUCHAREST), "70", status=OrderStatus.CANCELLED)
    await add_order(ctx, ro, local(yesterday, 23, 30, BUCHAREST), "20")
    await add_order(ctx, ro, local(yesterday, 22, 0, BUCHAREST), "5", status=OrderStatus.RETURNED)
    await add_order(ctx, ro, local(today - timedelta(days=40), 12, 0, BUCHAREST), "999")
    # Budapest is an hour behind Bucharest: 23:30 there is already today in Bucharest.
    hu_day = datetime.now(BUDAPEST).date()
    await add_order(ctx, hu, local(hu_day - timedelta(days=1), 23, 30, BUDAPEST), "3000", "HUF")

    async with httpx.AsyncClient(base_url=api, headers=headers) as client:
        response = await client.get("/api/v1/emag/orders/daily", params={"account": "ro"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["days"] == 30 and body["timezone"] == "Europe/Bucharest"
        assert len(body["items"]) == 30
        assert body["items"][-1]["day"] == today.isoformat()
        assert body["items"][0]["day"] == (today - timedelta(days=29)).isoformat()
        days = by_day(body)
        assert days[today.isoformat()]["orders"] == 3
        assert revenue(days[today.isoformat()]) == {
            "RON": (2, Decimal("100.50")),
            "EUR": (1, Decimal("9.50")),
        }
        assert days[yesterday.isoformat()]["orders"] == 2
        assert revenue(days[yesterday.isoformat()]) == {"RON": (2, Decimal("20"))}
        assert sum(item["orders"] for item in body["items"]) == 5  # not the one 40 days ago
        assert body["currencies"] == ["RON", "EUR"]

        hu_only = (
            await client.get("/api/v1/emag/orders/daily", params={"account": "hu", "days": 2})
        ).json()
        assert hu_only["timezone"] == "Europe/Budapest"
        assert [i["day"] for i in hu_only["items"]] == [
            (hu_day - timedelta(days=1)).isoformat(),
            hu_day.isoformat(),
        ]
        assert hu_only["items"][0]["orders"] == 1 and hu_only["items"][1]["orders"] == 0
        assert revenue(hu_only["items"][0]) == {"HUF": (1, Decimal("3000"))}

        # Every account: each order on its own platform's calendar; no single zone.
        both = (await client.get("/api/v1/emag/orders/daily", params={"days": 3})).json()
        assert both["timezone"] is None
        assert sum(item["orders"] for item in both["items"]) == 6
        assert both["currencies"] == ["HUF", "RON", "EUR"]


async def test_bad_input_is_refused(ctx: AppContext, api: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=api) as client:
        assert (await client.get("/api/v1/emag/orders/daily")).status_code == 401
        for days in ("0", "-1", "367", "abc", "1.5"):
            response = await client.get(
                "/api/v1/emag/orders/daily", params={"days": days}, headers=headers
            )
            assert response.status_code == 422, (days, response.text)
        unknown = await client.get(
            "/api/v1/emag/orders/daily", params={"account": "nope"}, headers=headers
        )
        assert unknown.status_code == 404
        empty = await client.get("/api/v1/emag/orders/daily", params={"days": 366}, headers=headers)
        assert empty.status_code == 200
        assert len(empty.json()["items"]) == 366 and empty.json()["currencies"] == []


async def test_documented_in_openapi(api: str) -> None:
    async with httpx.AsyncClient(base_url=api) as client:
        spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/emag/orders/daily"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["days"]["schema"]["minimum"] == 1 and params["days"]["schema"]["maximum"] == 366
    assert "account" in params
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/DailyOrdersOut")
