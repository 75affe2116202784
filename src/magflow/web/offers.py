"""The offers page: filters, bulk price and stock updates, CSV/XLSX export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from magflow.common.schemas import IdPath
from magflow.web.client import ApiError
from magflow.web.listing import PageNumber, export, list_page
from magflow.web.session import Csrf, User, WebUser, Writer, api
from magflow.web.templating import flash, render

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/offers", response_class=HTMLResponse)
async def offers_page(
    request: Request,
    user: User,
    account: str | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    offer_status: Annotated[str | None, Query(alias="status")] = None,
    stock: str | None = None,
    sort: str = "id",
    order: str = "asc",
    page: PageNumber = 1,
) -> Response:
    filters = {
        "account": account,
        "search": search,
        "status": offer_status,
        "stock": stock,
        "sort": sort,
        "order": order,
    }
    params = {
        "account": account,
        "search": search,
        "status": offer_status,
        "in_stock": {"in": "true", "out": "false"}.get(stock or ""),
        "sort": sort,
        "order": order,
    }
    return await list_page(
        request,
        user,
        name="offers",
        api_path="/api/v1/emag/offers",
        params=params,
        filters=filters,
        page=page,
    )


@router.post("/offers/bulk", response_class=HTMLResponse, dependencies=[Csrf])
async def offers_bulk(
    request: Request,
    user: Writer,
    field: Annotated[str, Form(pattern="^(sale_price|stock)$")],
    value: Annotated[str, Form(max_length=32)],
    selected: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Selected offers (``<account id>:<emag id>``) get one new price or stock, in one bulk job."""
    if not selected:
        return flash(request, user, "Select at least one offer.", "warn")
    items = []
    for key in selected:
        account_id, _, emag_id = key.partition(":")
        items.append({"account": account_id, "offer_id": emag_id, field: value.strip()})
    try:
        op = await api(request, user).post("/api/v1/emag/bulk/offers", json={"items": items})
    except ApiError as exc:
        return flash(request, user, exc.message, "error")
    return await _bulk_view(request, user, op)


async def _bulk_view(request: Request, user: WebUser, op: dict[str, Any]) -> Response:
    items = await api(request, user).get(
        f"/api/v1/emag/bulk/operations/{op['id']}/items", {"limit": 200}
    )
    finished = op["status"] not in ("queued", "running")
    return render(request, "_bulk_result.html", user, op=op, items=items, finished=finished)


@router.get("/offers/bulk/{operation_id}", response_class=HTMLResponse)
async def offers_bulk_status(request: Request, user: User, operation_id: IdPath) -> Response:
    try:
        op = await api(request, user).get(f"/api/v1/emag/bulk/operations/{operation_id}")
    except ApiError as exc:
        return flash(request, user, exc.message, "error")
    return await _bulk_view(request, user, op)


@router.get("/offers/export")
async def offers_export(request: Request, user: User) -> Response:
    return await export(request, user, "/api/v1/emag/offers/export")
