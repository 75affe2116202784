"""One order's page: details, attachments, status history, and the write actions (acknowledge,
status, invoice, AWB), each through the order actions API. An FBE order (type 2) offers the
invoice only: eMAG acknowledges it, sets its status and ships it (docs/emag-protocol.md,
"Orders").

Every time on the page is shown in the order's account's platform time zone, named (eMAG's own
dates are that platform's local time: docs/emag-protocol.md, "Dates and time zones").
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from magflow.common.schemas import IdPath
from magflow.emag.codes import OrderStatus, OrderType
from magflow.emag.platforms import platform_info
from magflow.orders.actions import ATTACHMENT_TYPES
from magflow.web.client import ApiError
from magflow.web.session import Csrf, User, WebUser, Writer, api, is_htmx
from magflow.web.templating import flash, render

router = APIRouter(tags=["dashboard"], include_in_schema=False)

ATTACHMENT_LABELS = {code: name.replace("_", " ") for name, code in ATTACHMENT_TYPES.items()}
#: Statuses in which eMAG accepts an AWB for an order the seller ships.
AWB_STATUSES = (OrderStatus.IN_PROGRESS, OrderStatus.PREPARED, OrderStatus.FINALIZED)
#: The label formats of ``GET /api/v1/emag/orders/{id}/awb/label`` (papers, then ZPL).
LABEL_FORMATS = ("A4", "A5", "A6", "ZPL")


def _zone(account: dict[str, Any] | None) -> tzinfo:
    try:
        return platform_info(account["platform"]).tz if account else UTC
    except (KeyError, ValueError):
        return UTC


def attachments(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The order's attachments as eMAG lists them: name, type label, and the URL as a link only
    when it is http(s) (a ``javascript:`` URL from a payload never becomes a link)."""
    found = []
    for item in order.get("attachments") or []:
        if not isinstance(item, dict):
            continue
        url = str(item.get("url") or "")
        try:
            code = int(item.get("type"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            code = None
        found.append(
            {
                "name": item.get("name") or "—",
                "type": ATTACHMENT_LABELS.get(code, str(item.get("type") or "—"))
                if code is not None
                else str(item.get("type") or "—"),
                "url": url,
                "link": urlsplit(url).scheme in ("http", "https"),
            }
        )
    return found


async def _order_detail(
    request: Request,
    user: WebUser,
    order: dict[str, Any],
    message: str | None,
    kind: str,
    awb: dict[str, Any] | None = None,
) -> Response:
    accounts = await api(request, user).get("/api/v1/accounts")
    account = next((a for a in accounts if a["id"] == order.get("account_id")), None)
    zone = _zone(account)
    template = "_order_detail.html" if is_htmx(request) else "order.html"
    awb_number = order.get("awb_number") or (awb or {}).get("awb_number")
    # docs/emag-protocol.md, "Orders": eMAG handles FBE orders; only attachments are the seller's
    fbe = order.get("order_type") == OrderType.FBE
    return render(
        request,
        template,
        user,
        order=order,
        names={a["id"]: a["name"] for a in accounts},
        message=message,
        kind=kind,
        tz=zone,
        tz_name=getattr(zone, "key", "UTC"),
        attachments=attachments(order),
        awb_number=awb_number,
        fbe=fbe,
        can_awb=not awb_number and not fbe and order.get("status") in AWB_STATUSES,
        awb=awb,
        # a label exists for AWBs issued through MagFlow (their eMAG ids are kept)
        can_print=bool(order.get("awb_emag_id") or order.get("awb_reservation_id")),
        label_formats=LABEL_FORMATS,
        sender_defaults=(account or {}).get("awb_sender"),
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(request: Request, user: User, order_id: IdPath) -> Response:
    try:
        order = await api(request, user).get(f"/api/v1/emag/orders/{order_id}")
    except ApiError as exc:
        raise HTTPException(exc.status_code, detail=exc.message) from exc
    return await _order_detail(request, user, order, None, "ok")


async def _order_action(
    request: Request, user: WebUser, order_id: int, action: str, body: Any, done: str
) -> Response:
    client = api(request, user)
    try:
        result = await client.post(f"/api/v1/emag/orders/{order_id}/{action}", json=body)
    except ApiError as exc:
        try:
            order = await client.get(f"/api/v1/emag/orders/{order_id}")
        except ApiError:  # no such order (any more): the message alone
            return flash(request, user, exc.message, "error")
        return await _order_detail(request, user, order, exc.message, "error")
    if result.get("sent") is False:  # eMAG was already at or past it: the answer's note says so
        note = str(result.get("note") or "nothing sent")
        return await _order_detail(
            request, user, result["order"], note[:1].upper() + note[1:], "warn"
        )
    messages = "; ".join(result.get("emag_messages") or [])
    return await _order_detail(
        request, user, result["order"], done + (f" eMAG: {messages}" if messages else ""), "ok"
    )


@router.post("/orders/{order_id}/acknowledge", response_class=HTMLResponse, dependencies=[Csrf])
async def order_acknowledge(request: Request, user: Writer, order_id: IdPath) -> Response:
    return await _order_action(request, user, order_id, "acknowledge", None, "Acknowledged.")


@router.post("/orders/{order_id}/status", response_class=HTMLResponse, dependencies=[Csrf])
async def order_status(
    request: Request,
    user: Writer,
    order_id: IdPath,
    new_status: Annotated[int, Form(alias="status")],
    reason: Annotated[str, Form()] = "",
) -> Response:
    body: dict[str, Any] = {"status": new_status}
    if reason.strip().isascii() and reason.strip().isdigit():
        body["reason"] = int(reason)
    label = OrderStatus.label_of(new_status)
    return await _order_action(request, user, order_id, "status", body, f"Status set to {label}.")


@router.post("/orders/{order_id}/invoice", response_class=HTMLResponse, dependencies=[Csrf])
async def order_invoice(
    request: Request,
    user: Writer,
    order_id: IdPath,
    url: Annotated[str, Form(max_length=1024)],
    name: Annotated[str, Form(max_length=60)] = "Invoice",
) -> Response:
    body = {"url": url, "name": name, "type": "invoice"}
    return await _order_action(request, user, order_id, "attachments", body, "Invoice attached.")


@router.get("/orders/{order_id}/couriers", response_class=HTMLResponse)
async def order_couriers(request: Request, user: Writer, order_id: IdPath) -> Response:
    """The options of the AWB form's courier select: the order's account's courier accounts."""
    client = api(request, user)
    couriers: list[dict[str, Any]] = []
    error = None
    try:
        order = await client.get(f"/api/v1/emag/orders/{order_id}")
        couriers = await client.get(
            "/api/v1/emag/courier-accounts", {"account": str(order["account_id"])}
        )
    except ApiError as exc:
        error = exc.message
    return render(request, "_courier_options.html", user, couriers=couriers, error=error)


@router.post("/orders/{order_id}/awb", response_class=HTMLResponse, dependencies=[Csrf])
async def order_awb(
    request: Request,
    user: Writer,
    order_id: IdPath,
    sender_name: Annotated[str, Form(max_length=255)] = "",
    sender_contact: Annotated[str, Form(max_length=255)] = "",
    sender_phone: Annotated[str, Form(max_length=32)] = "",
    sender_locality_id: Annotated[str, Form(max_length=12)] = "",
    sender_street: Annotated[str, Form(max_length=255)] = "",
    sender_zipcode: Annotated[str, Form(max_length=12)] = "",
    courier_account_id: Annotated[str, Form(max_length=12)] = "",
    parcel_number: Annotated[str, Form(max_length=4)] = "1",
    envelope_number: Annotated[str, Form(max_length=5)] = "0",
    weight: Annotated[str, Form(max_length=12)] = "",
    observation: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """Create an AWB through ``POST /api/v1/emag/orders/{id}/awb``; eMAG's refusal is shown.
    Sender fields left empty take the account's sender defaults (the API merges them)."""
    sender: dict[str, Any] = {
        "name": sender_name.strip() or None,
        "contact": sender_contact.strip() or None,
        "phone1": sender_phone.strip() or None,
        "street": sender_street.strip() or None,
        "zipcode": sender_zipcode.strip() or None,
        "locality_id": sender_locality_id.strip() or None,
    }
    body: dict[str, Any] = {
        "sender": {k: v for k, v in sender.items() if v is not None} or None,
        "parcel_number": parcel_number.strip() or "0",
        "envelope_number": envelope_number.strip() or "0",
        "courier_account_id": courier_account_id.strip() or None,
        "weight": weight.strip() or None,
        "observation": observation.strip() or None,
    }
    client = api(request, user)
    try:
        result = await client.post(f"/api/v1/emag/orders/{order_id}/awb", json=body)
    except ApiError as exc:
        try:
            order = await client.get(f"/api/v1/emag/orders/{order_id}")
        except ApiError:  # no such order (any more): the message alone
            return flash(request, user, f"AWB refused: {exc.message}", "error")
        return await _order_detail(request, user, order, f"AWB refused: {exc.message}", "error")
    awb = result.get("awb") or {}
    number = awb.get("awb_number") or "(no number returned)"
    messages = "; ".join(result.get("emag_messages") or [])
    return await _order_detail(
        request,
        user,
        result["order"],
        f"AWB {number} created." + (f" eMAG: {messages}" if messages else ""),
        "ok",
        awb=awb,
    )


@router.get("/orders/{order_id}/awb/label")
async def order_awb_label(
    request: Request,
    user: Writer,
    order_id: IdPath,
    paper: Annotated[str, Query(alias="format", max_length=3)] = "A4",
) -> Response:
    """The print button: the AWB label from ``GET /api/v1/emag/orders/{id}/awb/label`` through
    the signed-in user's session, passed on with its content type; an error page otherwise."""
    response = await api(request, user).call(
        "GET", f"/api/v1/emag/orders/{order_id}/awb/label", params={"format": paper}
    )
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        error = ApiError(response.status_code, detail)
        raise HTTPException(response.status_code, detail=f"No label: {error.message}")
    passed = ("content-type", "content-disposition", "cache-control")
    return Response(
        response.content,
        status_code=200,
        headers={k: v for k, v in response.headers.items() if k.lower() in passed},
    )
