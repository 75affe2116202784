"""``GET /api/v1/performance`` and its CSV export against the app under uvicorn."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx

from magflow.context import AppContext
from magflow.returns.models import EmagReturn
from tests.factories import make_account, make_user
from tests.intake.test_todo_api import store
from tests.support.auth import auth_headers


async def test_performance_over_a_period_with_trend_and_csv(ctx: AppContext, api: str) -> None:
    account = await make_account(ctx, name="perf")
    now = datetime.now(UTC)
    day = timedelta(days=1)
    placed = now - 2 * day
    finalized = {"status": 4, "order_date": placed, "finalization_date": placed + day / 2,
                 "maximum_date_for_shipment": placed + day, "has_invoice": True}  # fmt: skip
    # This week: 4 seller orders, one acknowledged after 20 minutes, one late, one returned,
    # one cancelled out of stock; an AWB issued through eMAG on one.
    await store(ctx, account, **finalized, ack_observed_at=placed + timedelta(minutes=20))
    await store(ctx, account, **{**finalized, "finalization_date": placed + 2 * day})
    returned = await store(ctx, account, **finalized, awb_number="AWB1")
    await store(ctx, account, status=0, order_date=placed, reason_cancellation={"id": 1})
    # The week before: 2 finalized orders on time, one without invoice.
    await store(ctx, account, **{**finalized, "order_date": placed - 7 * day})
    await store(ctx, account, **{**finalized, "order_date": placed - 7 * day, "has_invoice": False})
    async with ctx.db.session() as session:
        session.add(
            EmagReturn(account_id=account.id, emag_id=9001, order_emag_id=returned.emag_id,
                       request_status=6, raw={}, last_seen_at=now)
        )  # fmt: skip
        await session.commit()
    user = await make_user(ctx)
    async with httpx.AsyncClient(base_url=api) as client:
        client.headers.update(await auth_headers(client, user.email))
        response = await client.get("/api/v1/performance", params={"account": "perf", "days": 7})
        summary = await client.get(
            "/api/v1/performance/export", params={"account": "perf", "days": 7}
        )
        daily = await client.get(
            "/api/v1/performance/export", params={"account": "perf", "days": 7, "table": "daily"}
        )
        bad_days = await client.get("/api/v1/performance", params={"account": "perf", "days": 10})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["orders"] == 4 and len(body["daily"]) == 8
    metrics = {m["key"]: m for m in body["metrics"]}
    assert metrics["ack_time_median"]["value"] == 20.0
    assert metrics["ack_time_median"]["denominator"] == 1
    late = metrics["late_shipment_rate"]
    assert (late["value"], late["numerator"], late["denominator"]) == (33.33, 1, 3)
    assert late["status"] == "red" and late["threshold"]["limit"] == 5.0
    assert metrics["seller_cancellation_rate"]["value"] == 25.0
    assert metrics["return_rate"]["value"] == 33.33
    assert metrics["awb_share"]["value"] == 33.33
    invoice = metrics["invoice_rate"]
    assert (invoice["value"], invoice["previous"], invoice["change"]) == (100.0, 50.0, 50.0)
    assert invoice["direction"] == "better" and invoice["status"] is None
    assert sum(d["orders"] for d in body["daily"]) == 4

    assert summary.status_code == 200
    assert summary.headers["content-type"].startswith("text/csv")
    assert 'filename="performance-perf-7d-summary.csv"' in summary.headers["content-disposition"]
    rows = {r["metric"]: r for r in csv.DictReader(io.StringIO(summary.text))}
    assert rows["late_shipment_rate"]["value"] == "33.33"
    assert rows["late_shipment_rate"]["threshold"] == "<= 5"
    assert rows["ack_time_p95"]["previous"] == ""  # none measured the week before
    days = list(csv.DictReader(io.StringIO(daily.text)))
    assert len(days) == 8 and sum(int(d["orders"]) for d in days) == 4
    assert bad_days.status_code == 422
