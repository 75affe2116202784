"""The pricing pages: an offer's history as a chart (its price, the best offer's price and its
Buy Button rank over time), its profit at the current price and the repricer's decisions; and
the profit report per day, offer or category, with its CSV/XLSX exports.

The chart is an SVG drawn here (no script: the pages' Content-Security-Policy allows no inline
script, and a static drawing needs none). Data come from the JSON API, like every page.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from magflow.common.schemas import IdPath
from magflow.web.client import ApiError
from magflow.web.listing import export
from magflow.web.session import User, api
from magflow.web.templating import flash, render

router = APIRouter(tags=["dashboard"], include_in_schema=False)

WIDTH, HEIGHT, PAD = 640.0, 200.0, 28.0


def history_chart(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """SVG polylines: the offer's price and the best offer's price (left scale), and the Buy
    Button rank as steps (1 at the top of the lower band)."""
    points = [r for r in rows if r.get("recorded_at")]
    if len(points) < 1:
        return None
    times = [datetime.fromisoformat(str(r["recorded_at"]).replace("Z", "+00:00")) for r in points]
    start, end = times[0], times[-1]
    span = max((end - start).total_seconds(), 1.0)
    prices = [
        Decimal(str(v))
        for r in points
        for v in (r.get("sale_price"), r.get("best_offer_sale_price"))
        if v is not None
    ]
    low, high = (min(prices), max(prices)) if prices else (Decimal(0), Decimal(1))
    if high == low:
        high = low + 1
    ranks = [int(r["buy_button_rank"]) for r in points if r.get("buy_button_rank")]
    worst = max(ranks, default=1)

    def x(t: datetime) -> float:
        return round(PAD + (t - start).total_seconds() / span * (WIDTH - 2 * PAD), 1)

    def y(value: Any) -> float:
        share = float((Decimal(str(value)) - low) / (high - low))
        return round(HEIGHT * 0.65 - share * (HEIGHT * 0.65 - PAD), 1)

    def y_rank(rank: int) -> float:
        band = HEIGHT - PAD - HEIGHT * 0.72
        return round(HEIGHT * 0.72 + (rank - 1) / max(worst - 1, 1) * band, 1)

    def steps(name: str, scale: Any) -> str:
        out: list[str] = []
        for i, r in enumerate(points):
            if r.get(name) is None:
                continue
            px, py = x(times[i]), scale(r[name])
            if out:
                out.append(f"{px},{out[-1].split(',')[1]}")
            out.append(f"{px},{py}")
        if out:
            out.append(f"{WIDTH - PAD},{out[-1].split(',')[1]}")
        return " ".join(out)

    return {
        "width": WIDTH,
        "height": HEIGHT,
        "price": steps("sale_price", y),
        "best": steps("best_offer_sale_price", y),
        "rank": steps("buy_button_rank", lambda r: y_rank(int(r))),
        "low": low,
        "high": high,
        "worst_rank": worst,
        "start": start,
        "end": end,
        "changes": len(points),
    }


@router.get("/offers/{offer_id}/pricing", response_class=HTMLResponse)
async def offer_pricing(request: Request, user: User, offer_id: IdPath) -> Response:
    client = api(request, user)
    try:
        history = await client.get(f"/api/v1/pricing/offers/{offer_id}/history")
        decisions = await client.get(f"/api/v1/pricing/offers/{offer_id}/decisions")
        profit = await client.get(f"/api/v1/pricing/offers/{offer_id}/profit")
    except ApiError as exc:
        return flash(request, user, exc.message, "error")
    return render(
        request,
        "offer_pricing.html",
        user,
        offer_id=profit["emag_id"],
        history=history,
        chart=history_chart(history),
        decisions=decisions,
        profit=profit,
    )


@router.get("/profit", response_class=HTMLResponse)
async def profit_page(
    request: Request,
    user: User,
    account: Annotated[str | None, Query(max_length=64)] = None,
    group: Annotated[str, Query(pattern="^(day|offer|category)$")] = "day",
    date_from: Annotated[str | None, Query(max_length=10)] = None,
    date_to: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """The profit report of one account (the first one unless chosen)."""
    client = api(request, user)
    accounts = await client.get("/api/v1/accounts")
    chosen = account or (accounts[0]["name"] if accounts else None)
    filters = {"account": chosen, "group": group, "date_from": date_from, "date_to": date_to}
    report, error = None, None
    if chosen is not None:
        try:
            report = await client.get(
                "/api/v1/pricing/report", {k: v for k, v in filters.items() if v}
            )
        except ApiError as exc:
            error = exc.message
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(
        request,
        "profit.html",
        user,
        accounts=accounts,
        filters=filters,
        report=report,
        error=error,
        query=query,
    )


@router.get("/profit/export")
async def profit_export(request: Request, user: User) -> Response:
    """The report as CSV or XLSX (``format``), with the page's filters."""
    return await export(request, user, "/api/v1/pricing/report")
