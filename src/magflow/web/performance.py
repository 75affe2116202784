"""The seller performance page: one account's metrics over 7, 30 or 90 days (green / amber /
red against eMAG's targets, trend against the period before), daily charts and CSV exports.

Every figure comes from ``GET /api/v1/performance`` (formulas: :mod:`magflow.performance.service`);
the exports are the API's ``/api/v1/performance/export``, passed through.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from magflow.web.client import ApiError
from magflow.web.listing import export
from magflow.web.session import User, api
from magflow.web.templating import render

router = APIRouter(tags=["dashboard"], include_in_schema=False)

PERIODS = (7, 30, 90)
#: The rates drawn on the daily chart, in percent.
RATE_SERIES = (
    "late_shipment_rate",
    "seller_cancellation_rate",
    "invoice_rate",
    "return_rate",
    "awb_share",
)


def charts(data: dict[str, Any]) -> dict[str, Any]:
    """The charts' series: each rate per day (percent, gaps where a day had no order to count)
    and the median acknowledgement time per day (minutes)."""
    labels = {m["key"]: m["label"] for m in data["metrics"]}
    daily = data["daily"]
    return {
        "labels": [d["day"][5:] for d in daily],
        "orders": [d["orders"] for d in daily],
        "rates": [{"label": labels[key], "data": [d[key] for d in daily]} for key in RATE_SERIES],
        "ack": [d["ack_time_median"] for d in daily],
    }


@router.get("/performance", response_class=HTMLResponse)
async def performance_page(
    request: Request,
    user: User,
    account: Annotated[str | None, Query(max_length=100)] = None,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Response:
    client = api(request, user)
    accounts = await client.get("/api/v1/accounts")
    if account is None and accounts:
        account = accounts[0]["name"]
    data, error = None, None
    if account is not None:
        try:
            data = await client.get("/api/v1/performance", {"account": account, "days": days})
        except ApiError as exc:
            error = exc.message
    return render(
        request,
        "performance.html",
        user,
        accounts=accounts,
        account=account,
        days=days,
        periods=PERIODS,
        data=data,
        error=error,
        charts=charts(data) if data else None,
    )


@router.get("/performance/export")
async def performance_export(request: Request, user: User) -> Response:
    return await export(request, user, "/api/v1/performance/export")
