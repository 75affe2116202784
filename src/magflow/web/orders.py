"""The orders list: filters, acknowledgement of many new orders at once, CSV/XLSX export.

Orders fulfilled by eMAG (type 2, FBE) are eMAG's to acknowledge (docs/emag-protocol.md,
"Orders"): the table offers no checkbox for them, on any account."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from magflow.web.client import ApiError
from magflow.web.listing import PageNumber, export, list_page
from magflow.web.session import Csrf, User, Writer, api
from magflow.web.templating import flash, render

router = APIRouter(tags=["dashboard"], include_in_schema=False)


def _date_bound(value: str | None) -> str | None:
    """The form's day as a plain date: the API reads it in the accounts' platform time zone,
    and a plain ``date_to`` includes that whole day (magflow.common.dates); ``None`` when empty
    or not a date."""
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def _order_params(
    account: str | None,
    order_status: str | None,
    order_type: str | None,
    search: str | None,
    date_from: str | None,
    date_to: str | None,
) -> dict[str, Any]:
    return {
        "account": account,
        "status": order_status,
        "type": order_type or None,
        "search": search,
        "date_from": _date_bound(date_from),
        "date_to": _date_bound(date_to),
    }


@router.get("/orders", response_class=HTMLResponse)
async def orders_page(
    request: Request,
    user: User,
    account: str | None = None,
    order_status: Annotated[str | None, Query(alias="status")] = None,
    order_type: Annotated[str | None, Query(alias="type", max_length=2)] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    date_from: str | None = None,
    date_to: str | None = None,
    page: PageNumber = 1,
) -> Response:
    filters = {
        "account": account,
        "status": order_status,
        "type": order_type,
        "search": search,
        "date_from": date_from,
        "date_to": date_to,
    }
    return await list_page(
        request,
        user,
        name="orders",
        api_path="/api/v1/emag/orders",
        params=_order_params(account, order_status, order_type, search, date_from, date_to),
        filters=filters,
        page=page,
    )


@router.get("/orders/export")
async def orders_export(request: Request, user: User) -> Response:
    return await export(request, user, "/api/v1/emag/orders/export")


@router.post("/orders/acknowledge", response_class=HTMLResponse, dependencies=[Csrf])
async def orders_acknowledge(
    request: Request, user: Writer, selected: Annotated[list[int] | None, Form()] = None
) -> Response:
    if not selected:
        return flash(request, user, "Select at least one new order.", "warn")
    try:
        outcomes = await api(request, user).post(
            "/api/v1/emag/orders/acknowledge", json={"ids": selected}
        )
    except ApiError as exc:
        return flash(request, user, exc.message, "error")
    return render(
        request,
        "_ack_result.html",
        user,
        outcomes=outcomes,
        headers={"HX-Trigger": "orders-changed"},
    )
