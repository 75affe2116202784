"""Exports: CSV and XLSX over HTTP and the CLI, with the listings' filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from magflow.context import AppContext
from magflow.customers.schemas import CustomerOut
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


def _same(exported: Any, listed: Any) -> bool:
    """A CSV/XLSX cell against the listing's JSON value."""
    if listed is None:
        return exported in (None, "")
    if isinstance(listed, bool):
        return (
            str(exported).lower() in ("true", "1")
            if listed
            else str(exported).lower()
            in (
                "false",
                "0",
            )
        )
    if isinstance(listed, int | float):
        return abs(float(exported) - float(listed)) < 1e-6
    try:
        return abs(float(exported) - float(listed)) < 1e-6  # decimals are strings in JSON
    except (TypeError, ValueError):
        pass
    if isinstance(exported, datetime):
        return exported.replace(tzinfo=UTC) == datetime.fromisoformat(listed)
    try:
        return datetime.fromisoformat(str(exported)) == datetime.fromisoformat(listed)
    except ValueError:
        return str(exported) == str(listed)


async def test_customer_export_has_the_listings_rows_and_columns(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    """The export used to lack the analytics and to filter on its own; it is the listing now."""
    await sync(ctx, accounts.main, SyncKind.orders)
    await sync(ctx, accounts.fbe, SyncKind.orders)
    admin = clients.admin
    everyone = (
        await admin.get(
            "/api/v1/admin/emag-customers", params={"limit": 500, "with_summary": False}
        )
    ).json()["items"]
    assert len(everyone) > 10
    some_name = next(c["name"] for c in everyone if c["name"])
    cases: list[dict[str, Any]] = [
        {},
        {"account": "fbe"},
        {"tier": ["bronze", "silver"]},
        {"risk": ["low"], "sort": "risk"},
        {"channel": ["main"], "sort": "aov", "order": "asc"},
        {"loyalty_min": 10, "loyalty_max": 80, "sort": "loyalty"},
        {"search": some_name[:4]},
        {"min_orders": 2},
        {"sort": "spend", "order": "asc"},
    ]
    non_empty = 0
    for params in cases:
        listing = await admin.get(
            "/api/v1/admin/emag-customers", params={**params, "limit": 500, "with_summary": False}
        )
        assert listing.status_code == 200, (params, listing.text)
        items = listing.json()["items"]
        non_empty += bool(items)
        for fmt in ("csv", "xlsx"):
            response = await admin.get(
                "/api/v1/admin/emag-customers/export", params={**params, "format": fmt}
            )
            assert response.status_code == 200, (params, response.text)
            rows = read_csv(response.content) if fmt == "csv" else read_xlsx(response.content)
            assert [int(r["id"]) for r in rows] == [c["id"] for c in items], (params, fmt)
            header = (
                next(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
                if fmt == "csv"
                else list(rows[0])
                if rows
                else None
            )
            if header is not None:
                assert header == list(CustomerOut.model_fields), fmt
            for row, item in zip(rows, items, strict=True):
                assert set(row) == set(item)
                wrong = {k: (row[k], item[k]) for k in item if not _same(row[k], item[k])}
                assert not wrong, (params, fmt, wrong)
    assert non_empty >= 6
    # The export's former sort names still work, as the listing's equivalents.
    former = await admin.get(
        "/api/v1/admin/emag-customers/export", params={"sort": "total_spent", "order": "asc"}
    )
    current = await admin.get(
        "/api/v1/admin/emag-customers/export", params={"sort": "spend", "order": "asc"}
    )
    assert former.status_code == 200
    assert [r["id"] for r in read_csv(former.content)] == [
        r["id"] for r in read_csv(current.content)
    ]
    tiers = {c["tier"] for c in everyone}
    assert len(tiers) >= 2  # the analytics vary, so the comparison above means something

    # The CLI writes the same rows as the HTTP export with the same filters.
    path = Path(ctx.settings.var_dir) / "customers.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    written = await run_export(
        ctx,
        ExportKind.customers,
        ExportFormat.csv,
        path,
        account="fbe",
        tiers=["bronze", "silver"],
        show_progress=False,
    )
    listed = (
        await admin.get(
            "/api/v1/admin/emag-customers",
            params={"account": "fbe", "tier": ["bronze", "silver"], "limit": 500},
        )
    ).json()["items"]
    assert written == len(listed)
    assert [int(r["id"]) for r in read_csv(path.read_bytes())] == [c["id"] for c in listed]
    assert (
        await admin.get("/api/v1/admin/emag-customers/export", params={"tier": "diamond"})
    ).status_code == 422
