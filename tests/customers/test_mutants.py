"""Customer analytics that the mutation sample found unasserted (issue 19), through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from magflow.context import AppContext
from magflow.customers import analytics
from tests.customers.test_analytics_db import customer_row, insert_customers
from tests.factories import make_user
from tests.support.auth import auth_headers

PATH = "/api/v1/admin/emag-customers"


@pytest.fixture
async def client(ctx: AppContext, api: str) -> AsyncIterator[httpx.AsyncClient]:
    user = await make_user(ctx)
    async with httpx.AsyncClient(base_url=api) as http:
        http.headers.update(await auth_headers(http, user.email))
        yield http


async def listing(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(PATH, params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_rates_are_each_counted_from_their_own_orders(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    """10 orders: 2 cancelled, 3 returned, 4 paid cash on delivery."""
    [customer_id] = await insert_customers(
        ctx, [customer_row(orders_count=10, cancelled_count=2, returned_count=3, cod_count=4)]
    )
    [row] = await listing(client)
    assert row["id"] == customer_id
    assert row["cancellation_rate"] == 0.2
    assert row["return_rate"] == 0.3
    assert row["cod_share"] == 0.4
    detail = await client.get(f"{PATH}/{customer_id}")
    assert detail.status_code == 200, detail.text
    customer = detail.json()["customer"]
    assert (customer["cancellation_rate"], customer["return_rate"], customer["cod_share"]) == (
        0.2,
        0.3,
        0.4,
    )


async def test_each_risk_filter_holds_only_its_own_level(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    rows = [
        customer_row(orders_count=10),  # risk 0: low
        customer_row(orders_count=10, returned_count=3),  # 0.12: medium
        customer_row(orders_count=10, cancelled_count=4, cod_count=10),  # 0.36: high
        customer_row(orders_count=10, cancelled_count=5),  # exactly 0.30: high
        customer_row(orders_count=4, returned_count=1),  # exactly 0.10: medium
    ]
    low, medium, high, high_edge, medium_edge = await insert_customers(ctx, rows)
    levels = {row["id"]: row["risk_level"] for row in await listing(client)}
    assert levels == {
        low: "low",
        medium: "medium",
        high: "high",
        high_edge: "high",
        medium_edge: "medium",
    }
    for level in ("low", "medium", "high"):
        expected = {i for i, found in levels.items() if found == level}
        assert {row["id"] for row in await listing(client, risk=level)} == expected, level
    both = {row["id"] for row in await listing(client, risk=["medium", "high"])}
    assert both == {medium, high, high_edge, medium_edge}


def spend_for_fraction(kept: int, want_up: bool) -> Decimal:
    """A spend at which a customer with ``kept`` orders and no last order date has a loyalty
    score whose fraction rounds up (``want_up``) or down."""
    for cents in range(1000, 10_000_000, 7919):
        spent = Decimal(cents) / 100
        raw = analytics.loyalty_raw(
            orders=kept,
            cancelled=0,
            returned=0,
            total_spent=spent,
            currency="RON",
            last_order_at=None,
            now=datetime.now(UTC),
        )
        fraction = raw - int(raw)
        if (0.6 < fraction < 0.9) if want_up else (0.1 < fraction < 0.4):
            return spent
    raise AssertionError("no such spend")


async def test_loyalty_filters_use_the_score_as_shown(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    """``loyalty_min``/``loyalty_max`` compare with the rounded score the listing shows:
    a customer shown with score s is in loyalty_min=s and loyalty_max=s, and in neither
    loyalty_min=s+1 nor loyalty_max=s-1, whichever way its raw score was rounded. (Without a
    last order date the score does not move with the clock.)"""
    rows = [
        customer_row(
            orders_count=kept,
            total_spent=spend_for_fraction(kept, up),
            first_order_at=None,
            last_order_at=None,
        )
        for kept in (1, 2, 5)
        for up in (True, False)
    ]
    await insert_customers(ctx, rows)
    shown = {row["id"]: row["loyalty_score"] for row in await listing(client)}
    assert len(shown) == 6
    for customer_id, score in shown.items():
        assert customer_id in {r["id"] for r in await listing(client, loyalty_min=score)}
        assert customer_id in {r["id"] for r in await listing(client, loyalty_max=score)}
        both = await listing(client, loyalty_min=score, loyalty_max=score)
        assert {r["id"] for r in both} == {i for i, s in shown.items() if s == score}
        if score < 100:
            above = await listing(client, loyalty_min=score + 1)
            assert customer_id not in {r["id"] for r in above}
        if score > 0:
            below = await listing(client, loyalty_max=score - 1)
            assert customer_id not in {r["id"] for r in below}
