"""Invoicing routes (``/api/v1/invoicing/...``) and the public PDF address eMAG downloads from.

The PDF route needs no token (eMAG cannot send one): it is found only by its 43-character random
token, and answers ``404`` for anything else.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import Response
from pydantic import Field

from magflow.audit.service import Actor
from magflow.auth.dependencies import Admin, CurrentUser, Operator
from magflow.common.deps import AccountByName, AccountIds, Context, Session
from magflow.common.errors import UNPROCESSABLE, NotFoundError
from magflow.common.schemas import IdPath, Page, Skip
from magflow.invoicing import repository
from magflow.invoicing.models import DocKind, InvoicingSettings
from magflow.invoicing.schemas import (
    CreditNoteIn,
    InvoiceOut,
    InvoiceRow,
    QueueItem,
    SettingsIn,
    SettingsOut,
    invoice_out,
)
from magflow.invoicing.service import InvoicingError, InvoicingService
from magflow.orders import repository as orders_repository

router = APIRouter(prefix="/api/v1/invoicing", tags=["invoicing"])
files_router = APIRouter(tags=["invoicing"])

#: Periods of the listing and the export are calendar days in Romania's zone.
PERIOD_ZONE = ZoneInfo("Europe/Bucharest")
STATES = ("pending", "issuing", "issued", "attached", "failed")


def _settings_out(row: InvoicingSettings) -> SettingsOut:
    out = SettingsOut.model_validate(row)
    out.has_credentials = row.credentials_encrypted is not None
    return out


@router.get("/settings", response_model=SettingsOut)
async def get_settings(session: Session, _user: Admin, account: AccountByName) -> Any:
    row = await repository.get_settings(session, account.id)
    if row is None:
        raise NotFoundError(f"invoicing is not configured for account {account.name}")
    return _settings_out(row)


@router.put("/settings", response_model=SettingsOut)
async def put_settings(
    ctx: Context, session: Session, _user: Admin, account: AccountByName, body: SettingsIn
) -> Any:
    """Set the account's provider, trigger, series and seller data. Credentials are encrypted
    like eMAG passwords and never returned; omitted, the stored ones are kept."""
    row = await repository.get_settings(session, account.id)
    if row is None:
        row = InvoicingSettings(account_id=account.id)
        session.add(row)
    values = body.model_dump(exclude={"credentials"})
    for key, value in values.items():
        setattr(row, key, value.value if hasattr(value, "value") else value)
    if body.credentials is not None:
        row.credentials_encrypted = ctx.cipher.encrypt(json.dumps(body.credentials))
    if row.provider != "builtin" and row.credentials_encrypted is None:
        raise HTTPException(UNPROCESSABLE, detail=f"{row.provider} needs credentials")
    await session.commit()
    return _settings_out(row)


async def _run(coro: Any) -> Any:
    try:
        return await coro
    except InvoicingError as exc:
        raise HTTPException(UNPROCESSABLE, detail=str(exc)) from exc


@router.post("/orders/{order_id}/invoice", response_model=InvoiceOut)
async def issue_invoice(ctx: Context, user: Operator, order_id: IdPath) -> Any:
    """Issue (or retry) the order's invoice and attach it on eMAG. Idempotent: one invoice per
    order; a retry resumes at the step that failed; while another worker holds it, the answer is
    its current state."""
    service = InvoicingService(ctx, Actor.of(user))
    return invoice_out(await _run(service.request(order_id, DocKind.invoice)))


@router.post("/orders/{order_id}/credit-note", response_model=InvoiceOut)
async def issue_credit_note(
    ctx: Context, user: Operator, order_id: IdPath, body: CreditNoteIn | None = None
) -> Any:
    """Issue (or retry) the order's one credit note and attach it. Without ``lines``: what the
    order no longer holds (everything when cancelled or returned)."""
    service = InvoicingService(ctx, Actor.of(user))
    lines = (
        [{"index": x.index, "quantity": str(x.quantity)} for x in body.lines]
        if body and body.lines
        else None
    )
    return invoice_out(await _run(service.request(order_id, DocKind.credit_note, lines=lines)))


@router.get("/orders/{order_id}", response_model=list[InvoiceOut])
async def order_invoices(session: Session, _user: CurrentUser, order_id: IdPath) -> Any:
    if await orders_repository.get_order(session, order_id) is None:
        raise NotFoundError(f"no order {order_id}")
    return [invoice_out(r) for r in await repository.invoices_of_order(session, order_id)]


def _period(
    date_from: date | None, date_to: date | None
) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(date_from, time(), PERIOD_ZONE) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time(), PERIOD_ZONE) if date_to else None
    return start, end


StateFilter = Annotated[
    list[Annotated[str, Field(pattern="^(" + "|".join(STATES) + ")$")]] | None,
    Query(description="pending, issuing, issued, attached, failed"),
]


async def _rows(
    session: Any,
    account_ids: list[int] | None,
    state: list[str] | None,
    date_from: date | None,
    date_to: date | None,
    skip: int,
    limit: int,
) -> tuple[int, list[InvoiceRow]]:
    start, end = _period(date_from, date_to)
    total, rows = await repository.list_invoices(
        session,
        account_ids=account_ids,
        states=state,
        date_from=start,
        date_to=end,
        skip=skip,
        limit=limit,
    )
    items = [
        InvoiceRow(
            **invoice_out(i).model_dump(),
            emag_order_id=o.emag_id,
            order_status=o.status,
            customer_name=o.customer_name,
        )
        for i, o in rows
    ]
    return total, items


@router.get("/invoices", response_model=Page[InvoiceRow])
async def list_invoices(
    session: Session,
    _user: CurrentUser,
    account_ids: AccountIds,
    state: StateFilter = None,
    date_from: Annotated[date | None, Query(description="issued on or after (Romania)")] = None,
    date_to: Annotated[date | None, Query(description="issued on or before (whole day)")] = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    total, items = await _rows(session, account_ids, state, date_from, date_to, skip, limit)
    return Page[InvoiceRow](total=total, skip=skip, limit=limit, items=items)


EXPORT_COLUMNS = ("kind", "series", "number", "issued_at", "emag_order_id", "customer_name",
                  "currency", "total", "state", "provider", "attached_at", "message")  # fmt: skip


@router.get("/invoices/export")
async def export_invoices(
    session: Session,
    _user: CurrentUser,
    account_ids: AccountIds,
    date_from: Annotated[date, Query(description="issued on or after (Romania's day)")],
    date_to: Annotated[date, Query(description="issued on or before (whole day)")],
) -> Response:
    """Every invoice and credit note issued in the period, as CSV (for the accountant)."""
    if date_to < date_from:
        raise HTTPException(UNPROCESSABLE, detail="date_to is before date_from")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    skip = 0
    while True:
        _total, items = await _rows(session, account_ids, None, date_from, date_to, skip, 500)
        for item in items:
            data = item.model_dump(mode="json")
            writer.writerow(["" if data.get(c) is None else data[c] for c in EXPORT_COLUMNS])
        if len(items) < 500:
            break
        skip += 500
    name = f"invoices-{date_from.isoformat()}-{date_to.isoformat()}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/queue", response_model=Page[QueueItem])
async def missing_queue(
    session: Session,
    _user: CurrentUser,
    account_ids: AccountIds,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Finalized orders without an attached invoice, newest first, with their invoice's state."""
    total, rows = await repository.missing_invoices(session, account_ids, skip, limit)
    items = [
        QueueItem(
            order_id=o.id,
            emag_order_id=o.emag_id,
            account_id=o.account_id,
            order_date=o.order_date,
            customer_name=o.customer_name,
            total_with_vat=o.total_with_vat,
            currency=o.currency,
            invoice=invoice_out(i) if i is not None else None,
        )
        for o, i in rows
    ]
    return Page[QueueItem](total=total, skip=skip, limit=limit, items=items)


@router.get("/invoices/{invoice_id}/xml")
async def invoice_xml(session: Session, _user: Operator, invoice_id: IdPath) -> Response:
    """The built-in provider's e-Factura UBL 2.1 (CIUS-RO) XML of one document."""
    row = await repository.get_invoice(session, invoice_id)
    if row is None or row.xml is None:
        raise NotFoundError(f"no e-Factura XML for invoice {invoice_id}")
    return Response(
        row.xml,
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{row.series}{row.number}.xml"'},
    )


@files_router.get("/invoices/files/{token}.pdf", include_in_schema=False)
async def invoice_pdf(
    session: Session, token: Annotated[str, Path(min_length=40, max_length=64)]
) -> Response:
    """The PDF eMAG downloads (no login: the token is the secret)."""
    row = await repository.by_token(session, token)
    if row is None or row.pdf is None:
        raise NotFoundError("no such document")
    return Response(
        row.pdf,
        media_type="application/pdf",
        headers={"Cache-Control": "private, max-age=3600"},
    )
