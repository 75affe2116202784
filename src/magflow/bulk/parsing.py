"""Reading bulk offer changes from an uploaded CSV or XLSX file.

The first row names the columns (case and spaces ignored): ``account``, ``offer_id`` (also ``id``,
``emag_id``, ``offer_emag_id``), and any of ``sale_price``, ``min_sale_price``, ``max_sale_price``,
``recommended_price``, ``stock``, ``handling_time``, ``status``, ``vat_id``. Blank cells change
nothing. CSV: UTF-8 (a BOM is fine), separated by ``,`` or ``;``. XLSX: the first sheet.

A small file can describe a huge amount of work, so reading one is bounded (a hostile file gets
a 422 quickly, and the server keeps answering meanwhile):

- :func:`parse_upload_in_thread` parses in a worker thread, never on the event loop (a 1.5 KB
  XLSX declaring ``A1:XFD20000`` held the loop for 17 s, 19 MB of blank CSV lines for 11 s);
- every row read counts against the row limit, blank ones included, as the rows stream;
- an XLSX sheet's declared dimension is ignored (``reset_dimensions``: openpyxl would pad every
  row to the declared width) and rows are read up to :data:`MAX_COLUMNS` columns;
- an XLSX whose parts unpack to more than :data:`MAX_UNPACKED_BYTES` is refused unread;
- reading stops after :data:`MAX_PARSE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import weakref
import zipfile
from typing import Any

import anyio
import anyio.to_thread

from magflow.bulk.validation import FIELDS

ALIASES = {
    "id": "offer_id",
    "emag_id": "offer_id",
    "offer_emag_id": "offer_id",
    "offer": "offer_id",
    "account_name": "account",
    "account_id": "account",
}
KNOWN = {"account", "offer_id", *FIELDS}
#: Columns read from an XLSX row (the known ones fit many times over).
MAX_COLUMNS = 64
#: Largest total size of an XLSX's unpacked parts (a 20 MB upload of XML compresses ~10x).
MAX_UNPACKED_BYTES = 400 * 1024 * 1024
MAX_PARSE_SECONDS = 20.0
#: Uploads parsed at once per event loop (each in its own thread).
PARSERS_AT_ONCE = 2
_PARSERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


class UploadError(ValueError):
    pass


def _column(name: Any) -> str:
    key = str(name or "").strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(key, key)


def _rows(
    header: list[Any],
    records: Any,
    max_rows: int,
    deadline: float | None = None,
    known: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """The file's rows as dicts of its known columns; ``known`` defaults to the bulk offer
    columns (the pricing cost import passes its own)."""
    known = known if known is not None else frozenset(KNOWN)
    columns = [_column(h) for h in header]
    if "offer_id" not in columns:
        raise UploadError("the first row must name the columns, with offer_id (or id) among them")
    unknown = sorted({c for c in columns if c and c not in known})
    if unknown:
        raise UploadError(
            f"unknown columns: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    items: list[dict[str, Any]] = []
    deadline = deadline if deadline is not None else time.monotonic() + MAX_PARSE_SECONDS
    for read, record in enumerate(records, start=1):
        if read > max_rows:
            raise UploadError(f"at most {max_rows} rows per upload (blank rows count)")
        if read % 1000 == 0 and time.monotonic() > deadline:
            raise UploadError(f"the file took more than {MAX_PARSE_SECONDS:.0f} s to read")
        values = list(record)
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        items.append(
            {c: values[i] if i < len(values) else None for i, c in enumerate(columns) if c}
        )
    return items


def parse_csv(
    content: bytes, max_rows: int, known: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError("the CSV file must be UTF-8") from exc
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise UploadError("the file is empty")
    return _rows(header, reader, max_rows, known=known)


def parse_xlsx(
    content: bytes, max_rows: int, known: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UploadError(f"not a readable XLSX file: {exc}") from exc
    if unpacked > MAX_UNPACKED_BYTES:
        raise UploadError(
            f"the XLSX file unpacks to {unpacked} bytes; at most {MAX_UNPACKED_BYTES} are read"
        )
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a bad file
        raise UploadError(f"not a readable XLSX file: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):  # read-only sheets: distrust the declared size
            sheet.reset_dimensions()
        rows = sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
        header = next(rows, None)
        if header is None:
            raise UploadError("the file is empty")
        return _rows(list(header), rows, max_rows, known=known)
    finally:
        workbook.close()


def parse_upload(
    filename: str, content: bytes, max_rows: int, known: frozenset[str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(source, items) of an uploaded file, by extension (or the XLSX zip signature)."""
    name = filename.lower()
    if name.endswith(".xlsx") or content[:2] == b"PK":
        return "xlsx", parse_xlsx(content, max_rows, known)
    if name.endswith((".csv", ".txt")) or not name:
        return "csv", parse_csv(content, max_rows, known)
    raise UploadError("upload a .csv or .xlsx file")


async def parse_upload_in_thread(
    filename: str, content: bytes, max_rows: int, known: frozenset[str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """:func:`parse_upload` in a worker thread (at most :data:`PARSERS_AT_ONCE` at once), so
    that the event loop keeps serving other requests while a file is read."""
    loop = asyncio.get_running_loop()
    limiter = _PARSERS.get(loop)
    if limiter is None:
        limiter = _PARSERS[loop] = anyio.CapacityLimiter(PARSERS_AT_ONCE)
    return await anyio.to_thread.run_sync(
        parse_upload, filename, content, max_rows, known, limiter=limiter
    )
