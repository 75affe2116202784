"""Streamed exports of orders, offers and customers as CSV or XLSX.

Nothing holds a whole table: rows come from the database through a streaming result
(``session.stream`` with ``yield_per``: a server-side cursor on PostgreSQL, batched fetches on
SQLite) as plain column tuples (no ORM identity map), one batch at a time. CSV is encoded and
handed on batch by batch. XLSX is written with openpyxl's write-only mode (rows go straight to a
temporary file inside the workbook writer) into a temporary file that is then streamed and deleted.

Filters are the listings' own (``OrderFilter``/``OfferFilter``/``CustomerFilter`` and their
query builders), so an export holds exactly the rows the listing with the same parameters would
page through; a customer row is the listing's too, analytics included (tier, loyalty, risk,
channel, average order value).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.catalog import repository as catalog_repository
from magflow.catalog.models import EmagOffer
from magflow.common.privacy import mask_customer_key, mask_name
from magflow.customers import repository as customers_repository
from magflow.customers.models import EmagCustomer
from magflow.customers.schemas import CustomerOut, customer_out
from magflow.db.engine import Database
from magflow.orders import repository as orders_repository
from magflow.orders.models import EmagOrder

BATCH = 1000
CSV_FLUSH_BYTES = 64 * 1024
FILE_CHUNK = 256 * 1024


class ExportKind(StrEnum):
    orders = "orders"
    offers = "offers"
    customers = "customers"


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


MEDIA_TYPES = {
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

ORDER_COLUMNS: list[tuple[str, Any]] = [
    ("id", EmagOrder.id),
    ("account", EmagOrder.account_id),
    ("emag_id", EmagOrder.emag_id),
    ("type", EmagOrder.order_type),
    ("status", EmagOrder.status),
    ("payment_mode_id", EmagOrder.payment_mode_id),
    ("payment_mode", EmagOrder.payment_mode),
    ("delivery_mode", EmagOrder.delivery_mode),
    ("order_date", EmagOrder.order_date),
    ("modified", EmagOrder.emag_modified_at),
    ("currency", EmagOrder.currency),
    ("shipping_tax", EmagOrder.shipping_tax),
    ("total_without_vat", EmagOrder.total_without_vat),
    ("total_with_vat", EmagOrder.total_with_vat),
    ("customer_name", EmagOrder.customer_name),
    ("customer_key", EmagOrder.customer_key),
    ("awb_number", EmagOrder.awb_number),
    ("acknowledged_at", EmagOrder.acknowledged_at),
]

OFFER_COLUMNS: list[tuple[str, Any]] = [
    ("id", EmagOffer.id),
    ("account", EmagOffer.account_id),
    ("emag_id", EmagOffer.emag_id),
    ("name", EmagOffer.name),
    ("brand", EmagOffer.brand),
    ("part_number", EmagOffer.part_number),
    ("part_number_key", EmagOffer.part_number_key),
    ("ean", EmagOffer.ean),
    ("currency", EmagOffer.currency),
    ("sale_price", EmagOffer.sale_price),
    ("sale_price_with_vat", EmagOffer.sale_price_with_vat),
    ("recommended_price", EmagOffer.recommended_price),
    ("min_sale_price", EmagOffer.min_sale_price),
    ("max_sale_price", EmagOffer.max_sale_price),
    ("vat_id", EmagOffer.vat_id),
    ("stock", EmagOffer.stock_total),
    ("general_stock", EmagOffer.general_stock),
    ("estimated_stock", EmagOffer.estimated_stock),
    ("handling_time", EmagOffer.handling_time),
    ("status", EmagOffer.status),
    ("offer_validation_status", EmagOffer.offer_validation_status),
    ("validation_status", EmagOffer.validation_status),
    ("buy_button_rank", EmagOffer.buy_button_rank),
    ("number_of_offers", EmagOffer.number_of_offers),
    ("last_seen_at", EmagOffer.last_seen_at),
    ("missing_since", EmagOffer.missing_since),
]

#: The customers listing's row (``CustomerOut``): the stored counters and the analytics.
CUSTOMER_COLUMNS: list[str] = list(CustomerOut.model_fields)

#: Sort names the customers export took before it shared the listing's (``sort=total_spent``).
CUSTOMER_SORT_ALIASES = {
    "total_spent": "spend",
    "orders_count": "orders",
    "last_order_at": "last_order",
}


@dataclass(frozen=True)
class ExportSpec:
    """What to export: the column list and the (unordered) filtered query builder.

    ``entity_rows`` replaces the column tuples when a row is computed from the whole entity
    (customers: the listing's analytics); ``build`` then receives ``select(<entity>)``."""

    kind: ExportKind
    columns: list[tuple[str, Any]]
    build: Callable[[Select[Any]], Select[Any]]
    order_by: list[Any]
    account_column: int | None = None  # index of the account id column, shown as its name
    entity: Any = None
    entity_rows: Callable[[Any], tuple[Any, ...]] | None = None
    header_override: list[str] | None = None
    #: Mask customers' personal data (viewers: see common/privacy.py).
    mask_personal: bool = False

    @property
    def header(self) -> list[str]:
        if self.header_override is not None:
            return self.header_override
        return [name for name, _ in self.columns]

    def rows_query(self) -> Select[Any]:
        if self.entity is not None:
            return self.build(select(self.entity)).order_by(*self.order_by)
        return self.build(select(*[c for _, c in self.columns])).order_by(*self.order_by)

    def count_query(self) -> Select[Any]:
        table = self.entity.__table__ if self.entity is not None else self.columns[0][1].table
        return self.build(select(func.count()).select_from(table))


def _ordering(column: Any, descending: bool, tiebreak: Any) -> list[Any]:
    return [column.desc() if descending else column.asc(), tiebreak]


def orders_spec(
    filters: orders_repository.OrderFilter, *, sort: str = "order_date", descending: bool = True
) -> ExportSpec:
    return ExportSpec(
        ExportKind.orders,
        ORDER_COLUMNS,
        lambda q: orders_repository.apply_filter(q, filters),
        _ordering(orders_repository.SORTABLE[sort], descending, EmagOrder.id),
        account_column=1,
    )


def offers_spec(
    filters: catalog_repository.OfferFilter, *, sort: str = "id", descending: bool = False
) -> ExportSpec:
    return ExportSpec(
        ExportKind.offers,
        OFFER_COLUMNS,
        lambda q: catalog_repository.apply_filter(q, filters),
        _ordering(catalog_repository.SORTABLE[sort], descending, EmagOffer.id),
        account_column=1,
    )


def customers_spec(
    filters: customers_repository.CustomerFilter, *, sort: str = "spend", descending: bool = True
) -> ExportSpec:
    """The customers listing's rows (same filters, formulas, order and columns), all of them.

    The filter and the ``ORDER BY`` are the listing's (``customers.repository``), the row is
    :func:`magflow.customers.schemas.customer_out`'s, so an export holds what the listing
    pages through."""
    sort = CUSTOMER_SORT_ALIASES.get(sort, sort)
    now, config = filters.now, filters.config

    def row(customer: EmagCustomer) -> tuple[Any, ...]:
        out = customer_out(customer, now, config)
        return tuple(getattr(out, name) for name in CUSTOMER_COLUMNS)

    return ExportSpec(
        ExportKind.customers,
        [],
        lambda q: customers_repository.apply_filter(q, filters),
        customers_repository.ordering(filters, sort, descending),
        entity=EmagCustomer,
        entity_rows=row,
        header_override=CUSTOMER_COLUMNS,
    )


async def count(db: Database, spec: ExportSpec) -> int:
    async with db.session() as session:
        return int((await session.execute(spec.count_query())).scalar_one())


async def _account_names(session: AsyncSession) -> dict[int, str]:
    return {a.id: a.name for a in await accounts_service.list_accounts(session)}


async def iter_batches(
    db: Database, spec: ExportSpec, batch: int = BATCH
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The export's rows, ``batch`` at a time, from a streaming result in its own session."""
    async with db.session() as session:
        names = await _account_names(session) if spec.account_column is not None else {}
        result = await session.stream(spec.rows_query().execution_options(yield_per=batch))
        async for partition in result.partitions(batch):
            if spec.entity_rows is not None:
                rows = [spec.entity_rows(row[0]) for row in partition]
                session.expunge_all()  # streamed entities must not pile up in the session
            else:
                rows = [tuple(row) for row in partition]
            if spec.account_column is not None:
                i = spec.account_column
                rows = [(*row[:i], names.get(row[i], row[i]), *row[i + 1 :]) for row in rows]
            if spec.mask_personal:
                rows = [_masked(spec.header, row) for row in rows]
            yield rows


_MASKS: dict[str, Callable[[Any], Any]] = {
    "customer_name": mask_name,
    "customer_key": mask_customer_key,
}


def _masked(header: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        _MASKS[column](value) if column in _MASKS and isinstance(value, str) else value
        for column, value in zip(header, row, strict=True)
    )


#: First characters that make a spreadsheet program read a cell as a formula (OWASP "CSV
#: injection"): ``=``, ``+``, ``-``, ``@``, tab and carriage return.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(text: str) -> str:
    """Text from eMAG (names, brands...) as a cell that cannot run as a formula: prefixed with
    ``'`` when it starts like one. Only text is touched: numbers (negative ones included) are
    written as numbers and stay numbers."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, list | tuple):
        return neutralize(";".join(str(v) for v in value))
    if isinstance(value, dict):
        return neutralize(str(value))
    if isinstance(value, str):
        return neutralize(value)
    return value


def xlsx_value(value: Any) -> Any:
    """openpyxl refuses timezone-aware datetimes: they are written as naive UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, list | tuple):
        return neutralize(";".join(str(v) for v in value))
    if isinstance(value, dict):
        return neutralize(str(value))
    if isinstance(value, str):
        return neutralize(value)  # openpyxl stores a string starting with "=" as a formula
    if isinstance(value, bool | int | float | Decimal) or value is None:
        return value
    return neutralize(str(value))


async def csv_chunks(
    batches: AsyncIterator[list[tuple[Any, ...]]],
    header: list[str],
    on_rows: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """UTF-8 CSV (with a BOM, so spreadsheet programs read the accents right), in ~64 KB chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    async for rows in batches:
        writer.writerows([csv_value(v) for v in row] for row in rows)
        if on_rows is not None:
            on_rows(len(rows))
        if buffer.tell() >= CSV_FLUSH_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


async def write_csv(
    batches: AsyncIterator[list[tuple[Any, ...]]],
    header: list[str],
    path: Path,
    on_rows: Callable[[int], None] | None = None,
) -> None:
    out = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in csv_chunks(batches, header, on_rows):
            await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(out.close)


async def write_xlsx(
    batches: AsyncIterator[list[tuple[Any, ...]]],
    header: list[str],
    path: Path,
    title: str,
    on_rows: Callable[[int], None] | None = None,
) -> None:
    """A write-only workbook: appended rows go to the writer's temporary file, not to memory."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(header)
    async for rows in batches:
        for row in rows:
            sheet.append([xlsx_value(v) for v in row])
        if on_rows is not None:
            on_rows(len(rows))
    await asyncio.to_thread(workbook.save, str(path))


async def write_export(
    db: Database,
    spec: ExportSpec,
    fmt: ExportFormat,
    path: Path,
    on_rows: Callable[[int], None] | None = None,
) -> None:
    batches = iter_batches(db, spec)
    if fmt is ExportFormat.csv:
        await write_csv(batches, spec.header, path, on_rows)
    else:
        await write_xlsx(batches, spec.header, path, spec.kind.value, on_rows)


async def stream_export(db: Database, spec: ExportSpec, fmt: ExportFormat) -> AsyncIterator[bytes]:
    """The export as bytes for an HTTP response."""
    if fmt is ExportFormat.csv:
        async for chunk in csv_chunks(iter_batches(db, spec), spec.header):
            yield chunk
        return
    handle, name = tempfile.mkstemp(prefix="magflow-export-", suffix=".xlsx")
    os.close(handle)
    path = Path(name)
    try:
        await write_xlsx(iter_batches(db, spec), spec.header, path, spec.kind.value)
        source = await asyncio.to_thread(path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(source.read, FILE_CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(source.close)
    finally:
        await asyncio.to_thread(path.unlink, True)


def filename(kind: ExportKind, fmt: ExportFormat) -> str:
    return f"magflow-{kind.value}-{datetime.now(UTC):%Y%m%d-%H%M%S}.{fmt.value}"
