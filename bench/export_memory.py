"""Peak memory of streamed exports: 10,000 vs 100,000 orders, CSV and XLSX.

A fresh database (SQLite by default, ``--backend postgresql`` for the server of
``MAGFLOW_BENCH_DATABASE_URL``) is seeded with orders of two accounts: ``small`` holds 10% of the
rows, ``big`` the rest. Each export then runs in a child process of its own (so that one export's
peak cannot hide another's): ``magflow.exports.service.write_export`` to a temporary file, exactly
what ``magflow export`` does. The child reports its RSS after start-up (imports, engine) and its
peak RSS (``ru_maxrss``) at the end. Flat memory means the peak growth over start-up does not grow
with the number of rows: exporting 10x the rows must not cost 10x the memory.

    .venv/bin/python bench/export_memory.py                    # 100,000 rows, SQLite
    .venv/bin/python bench/export_memory.py --rows 20000       # quick
    .venv/bin/python bench/export_memory.py --backend postgresql

Ends with one line of JSON (``{"bench": "export_memory", ...}``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import fresh_database, machine, machine_line

from magflow.settings import Settings


def _settings(url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        secret_key=secrets.token_urlsafe(32),
        migrate_on_start=False,
    )


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def seed(url: str, rows: int) -> None:
    from sqlalchemy import insert

    from magflow.accounts.models import EmagAccount
    from magflow.context import AppContext
    from magflow.orders.models import EmagOrder

    ctx = AppContext.build(_settings(url))
    try:
        now = datetime.now(UTC)
        async with ctx.db.session() as session:
            ids = {}
            for name in ("small", "big"):
                account = EmagAccount(
                    name=name,
                    platform="ro",
                    account_type="main",
                    username=name,
                    password_encrypted=ctx.cipher.encrypt("x"),
                )
                session.add(account)
                await session.flush()
                ids[name] = account.id
            await session.commit()
        small = rows // 10
        batch = 2000
        for start in range(0, rows, batch):
            values = []
            for n in range(start, min(rows, start + batch)):
                values.append(
                    {
                        "account_id": ids["small"] if n < small else ids["big"],
                        "emag_id": 400_000_000 + n,
                        "order_type": 3,
                        "status": n % 6,
                        "is_complete": True,
                        "payment_mode_id": 1 + n % 3,
                        "payment_mode": "COD",
                        "delivery_mode": "courier",
                        "order_date": now - timedelta(minutes=n),
                        "emag_modified_at": now - timedelta(minutes=n),
                        "currency": "RON",
                        "shipping_tax": Decimal("19.99"),
                        "total_without_vat": Decimal(n % 997) + Decimal("0.5"),
                        "total_with_vat": Decimal(n % 997) * Decimal("1.19"),
                        "customer_key": f"ro:id:{n % 30000}",
                        "customer_name": f"Client {n % 30000} Popescu",
                        "raw": {"id": 400_000_000 + n},
                        "last_seen_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            async with ctx.db.session() as session:
                await session.execute(insert(EmagOrder), values)
                await session.commit()
    finally:
        await ctx.close()


async def child(url: str, fmt: str, account: str | None) -> dict[str, Any]:
    from magflow.context import AppContext
    from magflow.exports.cli import run_export
    from magflow.exports.service import ExportFormat, ExportKind

    ctx = AppContext.build(_settings(url))
    try:
        # warm-up: imports, engine, first connection, openpyxl
        with tempfile.TemporaryDirectory() as tmp:
            await run_export(
                ctx,
                ExportKind.customers,
                ExportFormat(fmt),
                Path(tmp) / f"warm.{fmt}",
                show_progress=False,
            )
        start_rss = current_rss_mb()
        start_peak = peak_rss_mb()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"orders.{fmt}"
            started = time.monotonic()
            rows = await run_export(
                ctx,
                ExportKind.orders,
                ExportFormat(fmt),
                path,
                account=account,
                show_progress=False,
            )
            seconds = time.monotonic() - started
            size = path.stat().st_size
    finally:
        await ctx.close()
    peak = peak_rss_mb()
    return {
        "rows": rows,
        "format": fmt,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else None,
        "file_mb": round(size / 1024 / 1024, 1),
        "start_rss_mb": round(start_rss, 1),
        "peak_rss_mb": round(peak, 1),
        "growth_mb": round(peak - max(start_rss, start_peak), 1),
    }


def run_child(url: str, fmt: str, account: str | None) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", "--url", url, "--format", fmt]
    if account:
        args += ["--account", account]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--format", default="csv", help=argparse.SUPPRESS)
    parser.add_argument("--account", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.url, args.format, args.account))))
        return

    print(machine_line())
    with fresh_database(args.backend) as url:
        started = time.monotonic()
        asyncio.run(seed(url, args.rows))
        print(f"seeded {args.rows} orders ({args.backend}) in {time.monotonic() - started:.1f}s")
        results = []
        for fmt in ("csv", "xlsx"):
            for account in ("small", None):
                r = run_child(url, fmt, account)
                results.append(r)
                print(
                    f"{fmt:4} {r['rows']:>7} rows: {r['seconds']:6.2f}s "
                    f"({r['rows_per_s']} rows/s, {r['file_mb']} MB file), RSS after start-up "
                    f"{r['start_rss_mb']} MB, peak {r['peak_rss_mb']} MB, "
                    f"growth {r['growth_mb']} MB"
                )
    summary: dict[str, Any] = {"bench": "export_memory", "backend": args.backend, "rows": args.rows}
    for fmt in ("csv", "xlsx"):
        small, big = (r for r in results if r["format"] == fmt)
        summary[f"{fmt}_peak_rss_mb_small"] = small["peak_rss_mb"]
        summary[f"{fmt}_peak_rss_mb_full"] = big["peak_rss_mb"]
        summary[f"{fmt}_rows_per_s"] = big["rows_per_s"]
        summary[f"{fmt}_peak_ratio_full_vs_small"] = round(
            big["peak_rss_mb"] / small["peak_rss_mb"], 2
        )
    summary["machine"] = machine()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
