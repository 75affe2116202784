"""The overview page: KPIs, each account's to-do list, the orders chart, running syncs and each
account's health.

Every figure comes from the JSON API: orders and revenue per day from
``GET /api/v1/emag/orders/daily`` (local days of each account's platform), the waiting (new
seller-fulfilled orders: FBE orders are eMAG's to acknowledge) and out-of-stock counts from the
orders and offers listings' ``total``, the to-dos from ``GET /api/v1/todo``, the Buy Buttons won
and lost in the last 24 h from ``GET /api/v1/pricing/buy-buttons`` (the offer history).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from magflow.emag.codes import OrderStatus, OrderType
from magflow.web.client import ApiError
from magflow.web.session import User, api
from magflow.web.templating import render

router = APIRouter(tags=["dashboard"], include_in_schema=False)

#: The orders waiting for the seller's acknowledgement: new, fulfilled by the seller.
WAITING_FOR_ACKNOWLEDGEMENT = {"status": int(OrderStatus.NEW), "type": int(OrderType.SELLER)}

#: The chart's window and the longest KPI window, in days.
CHART_DAYS = 30
#: To-dos listed per account on the overview (the counts cover them all).
TODO_ITEMS = 8


def window(daily: dict[str, Any], days: int) -> dict[str, Any]:
    """Orders and revenue per currency over the last ``days`` entries of the daily answer
    (currencies with no revenue left out)."""
    items = daily["items"][-days:]
    revenue: dict[str, Decimal] = {}
    for item in items:
        for cell in item["currencies"]:
            revenue[cell["currency"]] = revenue.get(cell["currency"], Decimal(0)) + Decimal(
                cell["revenue"]
            )
    return {
        "orders": sum(item["orders"] for item in items),
        "revenue": {c: revenue[c] for c in daily["currencies"] if revenue.get(c)},
    }


def chart(daily: dict[str, Any]) -> dict[str, Any]:
    """The chart's series: orders per day, and revenue per day in the main currency (the one
    with the most revenue; amounts in different currencies are never added)."""
    currency = daily["currencies"][0] if daily["currencies"] else ""
    revenue = [
        float(sum(Decimal(c["revenue"]) for c in item["currencies"] if c["currency"] == currency))
        for item in daily["items"]
    ]
    return {
        "labels": [item["day"][5:] for item in daily["items"]],
        "orders": [item["orders"] for item in daily["items"]],
        "revenue": revenue if currency else [],
        "currency": currency,
        # The currencies the chart leaves out (issue 13, point 7): the page names them.
        "others": list(daily["currencies"][1:]),
    }


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, user: User) -> Response:
    client = api(request, user)
    accounts = await client.get("/api/v1/accounts")
    names = {a["id"]: a["name"] for a in accounts}
    last_syncs = {
        a["id"]: (await client.get("/api/v1/emag/sync-logs", {"account": a["id"], "limit": 4}))[
            "items"
        ]
        for a in accounts
    }
    daily = await client.get("/api/v1/emag/orders/daily", {"days": CHART_DAYS})
    # FBE orders are eMAG's to acknowledge (docs/emag-protocol.md, "Orders"): never waiting on us
    waiting = (
        await client.get("/api/v1/emag/orders", {**WAITING_FOR_ACKNOWLEDGEMENT, "limit": 1})
    )["total"]
    out_of_stock = (await client.get("/api/v1/emag/offers", {"in_stock": "false", "limit": 1}))[
        "total"
    ]
    offers_total = (await client.get("/api/v1/emag/offers", {"limit": 1}))["total"]
    try:
        health = await client.get("/api/v1/emag/enhanced/status", {"account_type": "both"})
    except ApiError:
        health = None
    todos = await _todos(client, accounts)
    buy_buttons = await client.get("/api/v1/pricing/buy-buttons", {"hours": 24})
    return render(
        request,
        "overview.html",
        user,
        accounts=accounts,
        names=names,
        last_syncs=last_syncs,
        kpi={"today": window(daily, 1), "week": window(daily, 7), "month": window(daily, 30)},
        waiting=waiting,
        out_of_stock=out_of_stock,
        offers_total=offers_total,
        health=health,
        buy_buttons=buy_buttons,
        health_accounts=_health_by_account(health),
        ip_refusals=_ip_refusals(health),
        chart=chart(daily),
        timezone=daily["timezone"],
        account_names={str(k): v for k, v in names.items()},
        todos=todos,
    )


async def _todos(client: Any, accounts: list[dict[str, Any]]) -> dict[int, Any]:
    """Each account's to-do list (``GET /api/v1/todo``): counts per kind and the first
    :data:`TODO_ITEMS`, due first. An account whose list cannot be read is left out."""
    found: dict[int, Any] = {}
    for account in accounts:
        try:
            found[account["id"]] = await client.get(
                "/api/v1/todo", {"account": account["id"], "limit": TODO_ITEMS}
            )
        except ApiError:
            continue
    return found


def _health_by_account(health: Any) -> dict[str, dict[str, Any]]:
    """The status answer's per-account entries, keyed by account name (tolerant of its shape)."""
    found: dict[str, dict[str, Any]] = {}
    if not isinstance(health, dict):
        return found
    entries = health.get("accounts") or []
    if isinstance(entries, dict):
        entries = [{"name": k, **v} for k, v in entries.items() if isinstance(v, dict)]
    for entry in entries:
        if isinstance(entry, dict):
            name = entry.get("name") or entry.get("account") or entry.get("account_name")
            if name is not None:
                inner = entry.get("health")
                found[str(name)] = inner if isinstance(inner, dict) else entry
    return found


# -- eMAG's IP refusal (issue 13, point 10) --------------------------------------------------------


def _ip_refusals(health: Any) -> dict[str, dict[str, Any]]:
    """Per account name, the status answer's ``ip_refusal`` (eMAG refused this server's IP:
    docs/emag-protocol.md, "Answers and errors"), for the page to say what the seller must do."""
    found: dict[str, dict[str, Any]] = {}
    if isinstance(health, dict):
        for entry in health.get("accounts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("ip_refusal"), dict):
                found[str(entry.get("name"))] = entry["ip_refusal"]
    return found
