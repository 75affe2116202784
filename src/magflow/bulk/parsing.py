"""Reading bulk offer changes from an uploaded CSV or XLSX file.

The first row names the columns (case and spaces ignored): ``account``, ``offer_id`` (also ``id``,
``emag_id``, ``offer_emag_id``), and any of ``sale_price``, ``min_sale_price``, ``max_sale_price``,
``recommended_price``, ``stock``, ``handling_time``, ``status``, ``vat_id``. Blank cells change
nothing. CSV: UTF-8 (a BOM is fine), separated by ``,`` or ``;``. XLSX: the first sheet.
"""

from __future__ import annotations

import csv
import io
from typing import Any

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


class UploadError(ValueError):
    pass


def _column(name: Any) -> str:
    key = str(name or "").strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(key, key)


def _rows(header: list[Any], records: Any, max_rows: int) -> list[dict[str, Any]]:
    columns = [_column(h) for h in header]
    if "offer_id" not in columns:
        raise UploadError("the first row must name the columns, with offer_id (or id) among them")
    unknown = sorted({c for c in columns if c and c not in KNOWN})
    if unknown:
        raise UploadError(
            f"unknown columns: {', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}"
        )
    items: list[dict[str, Any]] = []
    for record in records:
        values = list(record)
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        if len(items) >= max_rows:
            raise UploadError(f"at most {max_rows} rows per upload")
        items.append(
            {c: values[i] if i < len(values) else None for i, c in enumerate(columns) if c}
        )
    return items


def parse_csv(content: bytes, max_rows: int) -> list[dict[str, Any]]:
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
    return _rows(header, reader, max_rows)


def parse_xlsx(content: bytes, max_rows: int) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a bad file
        raise UploadError(f"not a readable XLSX file: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise UploadError("the file is empty")
        return _rows(list(header), rows, max_rows)
    finally:
        workbook.close()


def parse_upload(filename: str, content: bytes, max_rows: int) -> tuple[str, list[dict[str, Any]]]:
    """(source, items) of an uploaded file, by extension (or the XLSX zip signature)."""
    name = filename.lower()
    if name.endswith(".xlsx") or content[:2] == b"PK":
        return "xlsx", parse_xlsx(content, max_rows)
    if name.endswith((".csv", ".txt")) or not name:
        return "csv", parse_csv(content, max_rows)
    raise UploadError("upload a .csv or .xlsx file")
