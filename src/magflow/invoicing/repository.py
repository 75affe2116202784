"""Every query of the invoicing package."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from magflow.db.upsert import dialect_insert
from magflow.invoicing.models import (
    DocKind,
    Invoice,
    InvoiceSeriesCounter,
    InvoiceState,
    InvoicingSettings,
    Trigger,
)
from magflow.orders.models import EmagOrder
from magflow.orders.repository import invoice_missing

FINALIZED = 4
CANCELLED = 0
RETURNED = 5
STORNO_MARGIN = Decimal("0.10")


async def get_settings(session: AsyncSession, account_id: int) -> InvoicingSettings | None:
    return (
        await session.execute(
            select(InvoicingSettings).where(InvoicingSettings.account_id == account_id)
        )
    ).scalar_one_or_none()


async def triggered_settings(session: AsyncSession) -> Sequence[InvoicingSettings]:
    return (
        (
            await session.execute(
                select(InvoicingSettings).where(InvoicingSettings.trigger != Trigger.off.value)
            )
        )
        .scalars()
        .all()
    )


async def get_invoice(session: AsyncSession, invoice_id: int) -> Invoice | None:
    return await session.get(Invoice, invoice_id, populate_existing=True)


async def invoice_of(session: AsyncSession, order_id: int, kind: DocKind) -> Invoice | None:
    return (
        await session.execute(
            select(Invoice)
            .where(Invoice.order_id == order_id, Invoice.kind == kind.value)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def invoices_of_order(session: AsyncSession, order_id: int) -> Sequence[Invoice]:
    return (
        (
            await session.execute(
                select(Invoice).where(Invoice.order_id == order_id).order_by(Invoice.id)
            )
        )
        .scalars()
        .all()
    )


async def claim_row(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert the (order, kind) row unless it exists: the unique constraint decides, so two
    callers at once end with one row."""
    statement = dialect_insert(session, Invoice.__table__).values(**values)
    await session.execute(statement.on_conflict_do_nothing(index_elements=["order_id", "kind"]))


async def take(
    session: AsyncSession, invoice_id: int, worker: str, now: datetime, stale_before: datetime
) -> bool:
    """Take the work lease on an invoice: free, or held by a worker silent since
    ``stale_before`` (killed). One UPDATE, so two takers never both win."""
    result = await session.execute(
        update(Invoice)
        .where(
            Invoice.id == invoice_id,
            or_(Invoice.claimed_by.is_(None), Invoice.claimed_at < stale_before),
        )
        .values(claimed_by=worker, claimed_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def release(session: AsyncSession, invoice_id: int, worker: str) -> None:
    await session.execute(
        update(Invoice)
        .where(Invoice.id == invoice_id, Invoice.claimed_by == worker)
        .values(claimed_by=None, claimed_at=None)
    )


async def next_number(session: AsyncSession, account_id: int, series: str) -> int:
    """The built-in series' next number, taken inside the caller's transaction (row lock on
    PostgreSQL; SQLite serialises writers): rolled back with it if the invoice is not kept."""
    await session.execute(
        dialect_insert(session, InvoiceSeriesCounter.__table__)
        .values(account_id=account_id, series=series, next_number=1)
        .on_conflict_do_nothing(index_elements=["account_id", "series"])
    )
    counter = (
        await session.execute(
            select(InvoiceSeriesCounter)
            .where(
                InvoiceSeriesCounter.account_id == account_id,
                InvoiceSeriesCounter.series == series,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    number = counter.next_number
    counter.next_number = number + 1
    await session.flush()
    return number


def _no_row(kind: DocKind) -> Any:
    other = aliased(Invoice)
    return ~exists().where(other.order_id == EmagOrder.id, other.kind == kind.value)


async def orders_to_invoice(
    session: AsyncSession, account_id: int, trigger: Trigger, limit: int
) -> Sequence[EmagOrder]:
    """Orders that reached the trigger, have no invoice row yet and no invoice on eMAG.

    ``awb``: an AWB issued through MagFlow (its number, eMAG's id, or only the reservation when
    the read-back after ``awb/save`` failed: docs/emag-protocol.md, "AWBs and couriers") on an
    order not cancelled, or a finalized order: eMAG finalizes an order at its first AWB, so an
    AWB issued elsewhere (eMAG's site, a courier's app) reaches MagFlow as status 4 alone (the
    order read carries no AWB number). A finalized order is thus invoiced under either trigger.

    An invoice already attached on eMAG (``has_invoice``: one issued elsewhere and attached by
    URL, on MagFlow's order page or elsewhere) stops the automatic issue: one invoice per order.
    """
    if trigger is Trigger.finalized:
        reached = EmagOrder.status == FINALIZED
    else:
        has_awb = or_(
            EmagOrder.awb_number.is_not(None),
            EmagOrder.awb_emag_id.is_not(None),
            EmagOrder.awb_reservation_id.is_not(None),
        )
        reached = or_(EmagOrder.status == FINALIZED, and_(has_awb, EmagOrder.status != CANCELLED))
    return (
        (
            await session.execute(
                select(EmagOrder)
                .where(
                    EmagOrder.account_id == account_id,
                    reached,
                    EmagOrder.has_invoice.is_not(True),
                    _no_row(DocKind.invoice),
                )
                .order_by(EmagOrder.id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )


async def orders_to_reverse(
    session: AsyncSession, account_id: int, limit: int
) -> Sequence[tuple[EmagOrder, Invoice]]:
    """Orders with an issued invoice and no credit note that were cancelled or returned since, or
    whose total fell below the invoice's (a partial storno keeps status 4 and lowers the total:
    docs/emag-protocol.md, "Orders"); the caller confirms line by line. The margin absorbs the
    cents by which per-line VAT rounding can set the two totals apart."""
    rows = await session.execute(
        select(EmagOrder, Invoice)
        .join(
            Invoice, and_(Invoice.order_id == EmagOrder.id, Invoice.kind == DocKind.invoice.value)
        )
        .where(
            EmagOrder.account_id == account_id,
            Invoice.state.in_([InvoiceState.issued.value, InvoiceState.attached.value]),
            or_(
                EmagOrder.status.in_([CANCELLED, RETURNED]),
                and_(
                    EmagOrder.status == FINALIZED,
                    EmagOrder.total_with_vat < Invoice.total - STORNO_MARGIN,
                ),
            ),
            _no_row(DocKind.credit_note),
        )
        .order_by(EmagOrder.id)
        .limit(limit)
    )
    return [(order, invoice) for order, invoice in rows.all()]


async def workable(session: AsyncSession, stale_before: datetime, limit: int) -> list[int]:
    """Invoices a tick should move on: pending, issued but not attached, or left mid-way by a
    worker that stopped (its lease is stale)."""
    rows = await session.execute(
        select(Invoice.id)
        .where(
            Invoice.state.in_(
                [InvoiceState.pending.value, InvoiceState.issuing.value, InvoiceState.issued.value]
            ),
            or_(Invoice.claimed_by.is_(None), Invoice.claimed_at < stale_before),
        )
        .order_by(Invoice.id)
        .limit(limit)
    )
    return list(rows.scalars().all())


async def list_invoices(
    session: AsyncSession,
    *,
    account_ids: list[int] | None,
    states: list[str] | None,
    date_from: datetime | None,
    date_to: datetime | None,
    skip: int,
    limit: int,
) -> tuple[int, Sequence[tuple[Invoice, EmagOrder]]]:
    conditions: list[Any] = []
    if account_ids:
        conditions.append(Invoice.account_id.in_(account_ids))
    if states:
        conditions.append(Invoice.state.in_(states))
    if date_from is not None:
        conditions.append(Invoice.issued_at >= date_from)
    if date_to is not None:
        conditions.append(Invoice.issued_at < date_to)
    total = (
        await session.execute(select(func.count()).select_from(Invoice).where(*conditions))
    ).scalar_one()
    rows = await session.execute(
        select(Invoice, EmagOrder)
        .join(EmagOrder, EmagOrder.id == Invoice.order_id)
        .where(*conditions)
        .order_by(Invoice.id.desc())
        .offset(skip)
        .limit(limit)
    )
    return total, [(i, o) for i, o in rows.all()]


async def missing_invoices(
    session: AsyncSession, account_ids: list[int] | None, skip: int, limit: int
) -> tuple[int, Sequence[tuple[EmagOrder, Invoice | None]]]:
    """The queue: finalized orders without an invoice, with MagFlow's invoice row if any (its
    state and message say why it is missing).

    The to-do list's definition, :func:`magflow.orders.repository.invoice_missing` (kind
    ``invoice_missing`` of ``intake.todo``): status 4 and known to have no invoice among the
    order's attachments on eMAG (``has_invoice`` false, kept by every order read and by every
    attachment MagFlow makes), so an invoice attached by URL, or issued by MagFlow, leaves both
    lists at once."""
    invoice = aliased(Invoice)
    conditions: list[Any] = [
        invoice_missing(account_ids or None),
        or_(invoice.id.is_(None), invoice.state != InvoiceState.attached.value),
    ]
    base = select(EmagOrder, invoice).outerjoin(
        invoice, and_(invoice.order_id == EmagOrder.id, invoice.kind == DocKind.invoice.value)
    )
    total = (
        await session.execute(select(func.count()).select_from(base.where(*conditions).subquery()))
    ).scalar_one()
    rows = await session.execute(
        base.where(*conditions).order_by(EmagOrder.order_date.desc(), EmagOrder.id.desc())
        .offset(skip).limit(limit)
    )  # fmt: skip
    return total, [(o, i) for o, i in rows.all()]


async def by_token(session: AsyncSession, token: str) -> Invoice | None:
    return (
        await session.execute(select(Invoice).where(Invoice.token == token))
    ).scalar_one_or_none()
