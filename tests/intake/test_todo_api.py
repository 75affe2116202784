"""``GET /api/v1/todo`` and the ``/metrics`` to-do gauges against the app under uvicorn, over
orders and returns stored as a sync stores them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from magflow.accounts.models import EmagAccount
from magflow.context import AppContext
from magflow.orders.models import EmagOrder
from magflow.returns.models import EmagReturn
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers

_ids = itertools.count(8_100_001)


async def store(ctx: AppContext, account: EmagAccount, **fields: Any) -> EmagOrder:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "account_id": account.id,
        "emag_id": next(_ids),
        "order_type": 3,
        "raw": {},
        "last_seen_at": now,
        "has_invoice": False,
    }
    values.update(fields)
    async with ctx.db.session() as session:
        order = EmagOrder(**values)
        session.add(order)
        await session.commit()
        return order


async def seed(ctx: AppContext) -> tuple[EmagAccount, dict[str, EmagOrder]]:
    """One account with one order (or return) per kind, plus orders that are no to-do."""
    account = await make_account(ctx, name="shop")
    other = await make_account(ctx, name="other")
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    orders = {
        # placed 2 h ago, not acknowledged: due 1 h ago (overdue)
        "ack": await store(ctx, account, status=1, order_date=now - 2 * hour,
                           maximum_date_for_shipment=now + 30 * hour),
        # acknowledged, ships within a day (not overdue)
        "ship": await store(ctx, account, status=2, order_date=now - 3 * hour,
                            maximum_date_for_shipment=now + 20 * hour),
        # prepared, deadline passed 5 h ago
        "late": await store(ctx, account, status=3, order_date=now - 50 * hour,
                            maximum_date_for_shipment=now - 5 * hour),
        # acknowledged with a cancellation request: due at its shipping deadline
        "cancel": await store(ctx, account, status=2, order_date=now - 4 * hour,
                              maximum_date_for_shipment=now + 10 * hour,
                              cancellation_requested=True),
        # finalized 3 days ago without an invoice
        "invoice": await store(ctx, account, status=4, order_date=now - 100 * hour,
                               finalization_date=now - 72 * hour),
        # no to-do: invoiced, FBE not acknowledged, cancelled, another account's
        "invoiced": await store(ctx, account, status=4, has_invoice=True,
                                finalization_date=now - 72 * hour),
        "fbe": await store(ctx, account, status=1, order_type=2, order_date=now - 5 * hour),
        "cancelled": await store(ctx, account, status=0, order_date=now - 5 * hour),
        "foreign": await store(ctx, other, status=1, order_date=now - 5 * hour),
    }  # fmt: skip
    async with ctx.db.session() as session:
        for emag_id, status, order_type in ((7001, 6, 3), (7002, 7, 3), (7003, 2, 2)):
            session.add(
                EmagReturn(
                    account_id=account.id,
                    emag_id=emag_id,
                    order_emag_id=orders["invoiced"].emag_id,
                    order_type=order_type,
                    request_status=status,
                    return_date=now - 30 * hour,
                    raw={"extra_info": {"maximum_finalization_date": None}},
                    last_seen_at=now,
                )
            )
        await session.commit()
    return account, orders


async def test_todo_list_is_due_first_with_counts_and_links(ctx: AppContext, api: str) -> None:
    account, orders = await seed(ctx)
    user = await make_user(ctx)  # a viewer may read it
    async with httpx.AsyncClient(base_url=api) as client:
        client.headers.update(await auth_headers(client, user.email))
        response = await client.get("/api/v1/todo", params={"account": "shop"})
        assert response.status_code == 200, response.text
        body = response.json()
        page = await client.get(
            "/api/v1/todo", params={"account": account.id, "kind": "ship", "limit": 1}
        )
        unknown = await client.get("/api/v1/todo", params={"account": "nope"})
        bad_kind = await client.get("/api/v1/todo", params={"account": "shop", "kind": "x"})

    listed = [(item["kind"], item["emag_order_id"], item["overdue"]) for item in body["items"]]
    # Due first: the invoice (3 days ago), the acknowledgement (1 h ago), the late order (5 h
    # ago), the return (30 h ago + 48 h), then the cancellation (in 10 h) and the shipment
    # (in 20 h).
    assert listed == [
        ("invoice_missing", orders["invoice"].emag_id, True),
        ("late", orders["late"].emag_id, True),
        ("acknowledge", orders["ack"].emag_id, True),
        ("ship", orders["cancel"].emag_id, False),
        ("cancellation_request", orders["cancel"].emag_id, False),
        ("return_waiting", orders["invoiced"].emag_id, False),
        ("ship", orders["ship"].emag_id, False),
    ]
    assert body["items"][0]["link"] == f"/orders/{orders['invoice'].id}"
    assert body["items"][5]["return_id"] == 7001
    counts = {c["kind"]: (c["total"], c["overdue"]) for c in body["counts"]}
    assert counts == {
        "acknowledge": (1, 1),
        "ship": (2, 0),
        "late": (1, 1),
        "cancellation_request": (1, 0),
        "invoice_missing": (1, 1),
        "return_waiting": (1, 0),
    }
    assert (body["total"], body["overdue"]) == (7, 3)
    assert [i["emag_order_id"] for i in page.json()["items"]] == [orders["cancel"].emag_id]
    assert page.json()["total"] == 7  # counts cover the whole list, not the page
    assert unknown.status_code == 404
    assert bad_kind.status_code == 422


async def test_metrics_expose_todo_counts_per_account_and_kind(ctx: AppContext, api: str) -> None:
    await seed(ctx)
    async with httpx.AsyncClient(base_url=api) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    samples = {
        (s.name, s.labels["account"], s.labels["kind"]): s.value
        for family in text_string_to_metric_families(response.text)
        if family.name in ("magflow_todo_items", "magflow_todo_overdue")
        for s in family.samples
    }
    assert samples[("magflow_todo_items", "shop", "ship")] == 2
    assert samples[("magflow_todo_overdue", "shop", "late")] == 1
    assert samples[("magflow_todo_items", "shop", "return_waiting")] == 1
    assert samples[("magflow_todo_items", "other", "acknowledge")] == 1
    assert samples[("magflow_todo_items", "other", "invoice_missing")] == 0
