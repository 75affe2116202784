"""The invoices page (orders missing an invoice, recent invoices, the export per period) and the
invoice block of an order's page (number, provider, state, the provider's or eMAG's message, and
an Issue / Retry button), each through the invoicing API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from magflow.common.schemas import IdPath
from magflow.web.client import ApiError
from magflow.web.listing import PAGE_SIZE, PageNumber, export, pages, qs
from magflow.web.session import Csrf, User, WebUser, Writer, api
from magflow.web.templating import render

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/invoicing", response_class=HTMLResponse)
async def invoicing_page(
    request: Request,
    user: User,
    account: Annotated[str | None, Query(max_length=64)] = None,
    page: PageNumber = 1,
) -> Response:
    client = api(request, user)
    params = {"account": account, "skip": (page - 1) * PAGE_SIZE, "limit": PAGE_SIZE}
    error = None
    try:
        queue = await client.get("/api/v1/invoicing/queue", params)
        recent = await client.get(
            "/api/v1/invoicing/invoices", {"account": account, "limit": PAGE_SIZE}
        )
    except ApiError as exc:
        queue, recent, error = {"total": 0, "items": []}, {"total": 0, "items": []}, exc.message
    today = datetime.now(ZoneInfo("Europe/Bucharest")).date()  # the export's days are Romania's
    return render(
        request,
        "invoicing.html",
        user,
        queue=queue,
        recent=recent,
        error=error,
        account=account,
        pages=pages(queue["total"], page),
        qs=qs,
        filters={"account": account},
        period=(today.replace(day=1).isoformat(), today.isoformat()),
    )


@router.get("/invoicing/export")
async def invoicing_export(request: Request, user: User) -> Response:
    return await export(request, user, "/api/v1/invoicing/invoices/export")


def elsewhere(order: dict[str, Any], invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The invoices on eMAG that MagFlow did not issue (attached by URL): type 1 attachments of
    an order for which MagFlow has issued nothing. Such an order gets no invoice from MagFlow
    (one invoice per order): the block says so instead of offering to issue one."""
    if any(i["kind"] == "invoice" and i.get("number") for i in invoices):
        return []
    found = []
    for item in order.get("attachments") or []:
        if not isinstance(item, dict):
            continue
        try:
            a_type = int(item.get("type", 1))
        except (TypeError, ValueError):
            continue
        if a_type == 1:
            found.append(item)
    return found


async def _block(
    request: Request, user: WebUser, order_id: int, message: str | None, kind: str
) -> Response:
    """The invoice block: MagFlow's documents of the order, or the invoice attached by URL; an
    Issue / Retry button, or (nothing issued by MagFlow) the form attaching an invoice issued
    elsewhere."""
    client = api(request, user)
    order: dict[str, Any] = {}
    try:
        found: list[dict[str, Any]] = await client.get(f"/api/v1/invoicing/orders/{order_id}")
        order = await client.get(f"/api/v1/emag/orders/{order_id}")
    except ApiError as exc:
        found, message, kind = [], exc.message, "error"
    return render(
        request,
        "_invoice_block.html",
        user,
        order_id=order_id,
        order=order,
        invoices=found,
        elsewhere=elsewhere(order, found),
        message=message,
        kind=kind,
    )


@router.get("/orders/{order_id}/invoicing", response_class=HTMLResponse)
async def order_invoice_block(request: Request, user: User, order_id: IdPath) -> Response:
    return await _block(request, user, order_id, None, "ok")


async def _issue(request: Request, user: WebUser, order_id: int, what: str) -> Response:
    """Issue or retry the order's invoice (``what``: ``invoice``) or credit note
    (``credit-note``); the block shows the outcome."""
    try:
        result = await api(request, user).post(f"/api/v1/invoicing/orders/{order_id}/{what}")
    except ApiError as exc:
        return await _block(request, user, order_id, exc.message, "error")
    state = result["state"]
    message = (
        f"{result['series']}{result['number']} attached."
        if state == "attached"
        else f"{state}: {result.get('message') or ''}".rstrip(": ")
    )
    return await _block(request, user, order_id, message, "ok" if state == "attached" else "error")


@router.post("/orders/{order_id}/invoicing/issue", response_class=HTMLResponse, dependencies=[Csrf])
async def order_invoice_issue(request: Request, user: Writer, order_id: IdPath) -> Response:
    return await _issue(request, user, order_id, "invoice")


@router.post(
    "/orders/{order_id}/invoicing/credit-note", response_class=HTMLResponse, dependencies=[Csrf]
)
async def order_credit_note(request: Request, user: Writer, order_id: IdPath) -> Response:
    return await _issue(request, user, order_id, "credit-note")
