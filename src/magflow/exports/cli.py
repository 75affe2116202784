"""``magflow export orders|offers|customers --format csv|xlsx --output FILE``, with a progress bar.

Registered in ``magflow.cli`` with ``app.command("export")(export_command)``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from magflow.accounts import service as accounts_service
from magflow.catalog.repository import OfferFilter
from magflow.context import AppContext
from magflow.exports import service
from magflow.exports.service import ExportFormat, ExportKind
from magflow.orders.repository import OrderFilter

console = Console(stderr=True)


async def run_export(
    ctx: AppContext,
    kind: ExportKind,
    fmt: ExportFormat,
    output: Path,
    *,
    account: str | None = None,
    status: list[int] | None = None,
    search: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    show_progress: bool = True,
) -> int:
    """Write the export to ``output``; returns the number of rows."""
    ids = None
    if account is not None:
        async with ctx.db.session() as session:
            ids = [(await accounts_service.get_account(session, account)).id]
    spec: service.ExportSpec
    if kind is ExportKind.orders:
        spec = service.orders_spec(
            OrderFilter(
                account_ids=ids,
                status=status or None,
                search=search,
                date_from=date_from,
                date_to=date_to,
            )
        )
    elif kind is ExportKind.offers:
        spec = service.offers_spec(
            OfferFilter(
                account_ids=ids,
                search=search,
                status=status[0] if status else None,
            )
        )
    else:
        spec = service.customers_spec(service.CustomerFilter(account_ids=ids, search=search))
    total = await service.count(ctx.db, spec)
    written = 0
    with Progress(
        TextColumn(f"export {kind.value}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
    ) as bar:
        task = bar.add_task(kind.value, total=total)

        def advance(n: int) -> None:
            nonlocal written
            written += n
            bar.update(task, completed=written)

        await service.write_export(ctx.db, spec, fmt, output, advance)
    return written


def export_command(
    kind: Annotated[ExportKind, typer.Argument(help="orders, offers or customers")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv or xlsx")] = (
        ExportFormat.csv
    ),
    account: Annotated[str | None, typer.Option(help="Account name or id.")] = None,
    status: Annotated[
        list[int] | None, typer.Option("--status", help="Order status (repeatable) / offer status.")
    ] = None,
    search: Annotated[str | None, typer.Option(help="Search text, as in the listings.")] = None,
    date_from: Annotated[
        datetime | None, typer.Option(help="Orders from this date (UTC when no zone).")
    ] = None,
    date_to: Annotated[datetime | None, typer.Option(help="Orders before this date.")] = None,
) -> None:
    """Export orders, offers or customers to CSV or XLSX (streamed; any size)."""
    from datetime import UTC

    from magflow.cli import fail, run_with_context

    bounds = [d if d is None or d.tzinfo else d.replace(tzinfo=UTC) for d in (date_from, date_to)]

    async def go(ctx: AppContext) -> int:
        return await run_export(
            ctx,
            kind,
            fmt,
            output,
            account=account,
            status=status,
            search=search,
            date_from=bounds[0],
            date_to=bounds[1],
        )

    try:
        rows = run_with_context(go)
    except accounts_service.AccountNotFoundError as exc:
        raise fail(str(exc)) from exc
    console.print(f"{rows} {kind.value} written to {output}", highlight=False)
