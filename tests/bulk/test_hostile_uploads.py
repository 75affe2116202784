"""Small uploads describing huge work get a 422 quickly, and the server keeps answering.

Each hostile file is generated here: an XLSX declaring ``A1:XFD20000`` (openpyxl would pad every
row to 16,384 columns), the same with one cell at row 20,000 after a data row (19,998 blank rows
that used to be skipped uncounted), and a CSV of a header, a million blank lines and one row.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile

import httpx
import pytest
from openpyxl import Workbook

from magflow.bulk.parsing import MAX_COLUMNS, parse_xlsx
from tests.orders.support import Clients

UPLOAD = "/api/v1/emag/bulk/offers/upload"


def _xlsx(rows: list[list[object]], *, far_cell: bool = False) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                text, replaced = re.subn(
                    r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1:XFD20000"/>', data.decode()
                )
                assert replaced == 1
                if far_cell:
                    text = text.replace(
                        "</sheetData>",
                        '<row r="20000"><c r="XFD20000" t="inlineStr"><is><t></t></is></c></row>'
                        "</sheetData>",
                    )
                data = text.encode()
            target.writestr(info, data)
    return out.getvalue()


async def _upload_with_health(
    client: httpx.AsyncClient, name: str, content: bytes
) -> httpx.Response:
    upload = asyncio.ensure_future(
        client.post(UPLOAD, files={"file": (name, content, "application/octet-stream")})
    )
    health = await client.get("/health")
    assert health.status_code == 200, health.text
    return await upload


async def test_a_declared_huge_sheet_is_read_by_its_real_cells(clients: Clients) -> None:
    header_only = _xlsx([["account", "offer_id", "stock"]])
    assert len(header_only) < 6_000
    response = await _upload_with_health(clients.operator, "declared.xlsx", header_only)
    assert response.status_code == 422
    assert response.json()["detail"] == "the file has no rows"


def test_rows_are_read_up_to_the_column_bound() -> None:
    content = _xlsx([["account", "offer_id", "stock"], ["main", 1, 5]])
    assert parse_xlsx(content, 10) == [{"account": "main", "offer_id": 1, "stock": 5}]
    assert MAX_COLUMNS < 16_384


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
async def test_blank_rows_count_against_the_row_limit(clients: Clients, kind: str) -> None:
    if kind == "xlsx":
        name = "far.xlsx"
        content = _xlsx([["account", "offer_id", "stock"], ["main", 1, 5]], far_cell=True)
    else:
        name = "blank.csv"
        content = b"offer_id,stock\n" + b"\n" * 1_000_000 + b"1,5\n"
    response = await _upload_with_health(clients.operator, name, content)
    assert response.status_code == 422, response.text
    assert "blank rows count" in response.json()["detail"]
