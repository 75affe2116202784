"""Exports: CSV and XLSX over HTTP and the CLI, with the listings' filters."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.exports.cli import run_export
from magflow.exports.service import ExportFormat, ExportKind
from magflow.sync.models import SyncKind
from tests.orders.support import Clients
from tests.support.simulation import Accounts, sync


def read_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def read_xlsx(content: bytes) -> list[dict[str, Any]]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, [*row, *[None] * len(header)], strict=False)) for row in rows[1:]]


async def test_order_offer_and_customer_exports(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients, tmp_path: Path
) -> None:
    await sync(ctx, accounts.main, SyncKind.orders)
    await sync(ctx, accounts.main, SyncKind.offers)
    await sync(ctx, accounts.fbe, SyncKind.offers)
    api = clients.viewer

    listing = (
        await api.get(
            "/api/v1/emag/orders", params={"account": "main", "status": [4], "limit": 500}
        )
    ).json()
    response = await api.get(
        "/api/v1/emag/orders/export", params={"account": "main", "status": [4], "format": "csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = read_csv(response.content)
    assert [int(r["id"]) for r in rows] == [o["id"] for o in listing["items"]]
    assert {r["status"] for r in rows} == {"4"} and {r["account"] for r in rows} == {"main"}
    first = listing["items"][0]
    assert float(rows[0]["total_with_vat"]) == float(first["total_with_vat"])

    response = await api.get("/api/v1/emag/orders/export", params={"format": "xlsx"})
    assert response.status_code == 200
    sheet = read_xlsx(response.content)
    assert len(sheet) == (await api.get("/api/v1/emag/orders")).json()["total"]
    assert isinstance(sheet[0]["emag_id"], int)

    offers = (
        await api.get(
            "/api/v1/emag/offers", params={"account": "fbe", "in_stock": True, "limit": 500}
        )
    ).json()
    response = await api.get(
        "/api/v1/emag/offers/export", params={"account": "fbe", "in_stock": True, "format": "xlsx"}
    )
    sheet = read_xlsx(response.content)
    assert [r["id"] for r in sheet] == [o["id"] for o in offers["items"]]
    assert all(r["stock"] > 0 for r in sheet)

    # customers: admins only
    assert (await api.get("/api/v1/admin/emag-customers/export")).status_code == 403
    response = await clients.admin.get(
        "/api/v1/admin/emag-customers/export", params={"sort": "total_spent", "order": "desc"}
    )
    assert response.status_code == 200
    customers = read_csv(response.content)
    assert customers
    spent = [float(c["total_spent"]) for c in customers]
    assert spent == sorted(spent, reverse=True)

    # the CLI writes the same rows to a file (unmasked: viewers' exports mask customer names)
    full = await clients.operator.get(
        "/api/v1/emag/orders/export", params={"account": "main", "status": [4], "format": "csv"}
    )
    assert [r["id"] for r in read_csv(full.content)] == [r["id"] for r in rows]
    rows = read_csv(full.content)
    path = tmp_path / "orders.csv"
    written = await run_export(
        ctx,
        ExportKind.orders,
        ExportFormat.csv,
        path,
        account="main",
        status=[4],
        show_progress=False,
    )
    assert written == len(rows)
    assert read_csv(path.read_bytes()) == rows
    path = tmp_path / "customers.xlsx"
    written = await run_export(
        ctx, ExportKind.customers, ExportFormat.xlsx, path, show_progress=False
    )
    assert written == len(customers) == len(read_xlsx(path.read_bytes()))

    # bad parameters
    assert (
        await api.get("/api/v1/emag/orders/export", params={"format": "pdf"})
    ).status_code == 422
    assert (
        await api.get("/api/v1/emag/offers/export", params={"account": "nope"})
    ).status_code == 404
