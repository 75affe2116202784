"""``magflow export orders|offers|customers --format csv|xlsx --output FILE``, with a progress bar.

Registered in ``magflow.cli.COMMANDS`` (imported when ``magflow export`` runs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from magflow.accounts import service as accounts_service
from magflow.catalog.repository import OfferFilter
from magflow.common.dates import (
    AmbiguousZoneError,
    in_zone,
    is_local,
    parse_user_datetime,
    parse_user_datetime_end,
)
from magflow.context import AppContext
from magflow.customers.analytics import RISK_LEVELS, TIERS
from magflow.customers.repository import CustomerFilter
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
    tiers: list[str] | None = None,
    risks: list[str] | None = None,
    channels: list[str] | None = None,
    loyalty_min: int | None = None,
    loyalty_max: int | None = None,
    min_orders: int | None = None,
    sort: str | None = None,
    descending: bool | None = None,
    show_progress: bool = True,
) -> int:
    """Write the export to ``output``; returns the number of rows.

    The filters are the listings' (and the HTTP export's); dates without a zone are the
    accounts' platform time (``magflow.common.dates``)."""
    ids = None
    async with ctx.db.session() as session:
        if account is not None:
            ids = [(await accounts_service.get_account(session, account)).id]
        if any(d is not None and is_local(d) for d in (date_from, date_to)):
            zone = await accounts_service.local_zone(session, ids)
            date_from = in_zone(date_from, zone) if date_from is not None else None
            date_to = in_zone(date_to, zone) if date_to is not None else None
    spec: service.ExportSpec
    if kind is ExportKind.orders:
        spec = service.orders_spec(
            OrderFilter(
                account_ids=ids,
                status=status or None,
                search=search,
                date_from=date_from,
                date_to=date_to,
            ),
            sort=sort or "order_date",
            descending=True if descending is None else descending,
        )
    elif kind is ExportKind.offers:
        spec = service.offers_spec(
            OfferFilter(
                account_ids=ids,
                search=search,
                status=status[0] if status else None,
            ),
            sort=sort or "id",
            descending=False if descending is None else descending,
        )
    else:
        spec = service.customers_spec(
            CustomerFilter(
                now=datetime.now(UTC),
                account_ids=ids,
                search=search.strip() if search and search.strip() else None,
                tiers=list(tiers or ()),
                risks=list(risks or ()),
                channels=list(channels or ()),
                loyalty_min=loyalty_min,
                loyalty_max=loyalty_max,
                min_orders=min_orders,
            ),
            sort=sort or "spend",
            descending=True if descending is None else descending,
        )
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
        datetime | None,
        typer.Option(
            parser=parse_user_datetime,
            metavar="DATE",
            help="Orders from this date or time (without a zone: the accounts' platform time).",
        ),
    ] = None,
    date_to: Annotated[
        datetime | None,
        typer.Option(
            parser=parse_user_datetime_end,
            metavar="DATE",
            help="Orders before this time; a plain date includes that whole day.",
        ),
    ] = None,
    tier: Annotated[
        list[str] | None, typer.Option(help="Customers: bronze, silver, gold, platinum.")
    ] = None,
    risk: Annotated[list[str] | None, typer.Option(help="Customers: low, medium, high.")] = None,
    channel: Annotated[list[str] | None, typer.Option(help="Customers: main, fbe, mixed.")] = None,
    loyalty_min: Annotated[int | None, typer.Option(min=0, max=100)] = None,
    loyalty_max: Annotated[int | None, typer.Option(min=0, max=100)] = None,
    min_orders: Annotated[int | None, typer.Option(min=0)] = None,
) -> None:
    """Export orders, offers or customers to CSV or XLSX (streamed; any size), with the
    listings' filters; customers with the listing's analytics."""
    from magflow.cli import fail, run_with_context

    channels = ("main", "fbe", "mixed")
    choices = {"tier": (tier, TIERS), "risk": (risk, RISK_LEVELS), "channel": (channel, channels)}
    for option, (given, allowed) in choices.items():
        wrong = [v for v in given or () if v not in allowed]
        if wrong:
            raise typer.BadParameter(
                f"{wrong[0]!r} is not one of {', '.join(allowed)}", param_hint=f"--{option}"
            )

    async def go(ctx: AppContext) -> int:
        return await run_export(
            ctx,
            kind,
            fmt,
            output,
            account=account,
            status=status,
            search=search,
            date_from=date_from,
            date_to=date_to,
            tiers=tier,
            risks=risk,
            channels=channel,
            loyalty_min=loyalty_min,
            loyalty_max=loyalty_max,
            min_orders=min_orders,
        )

    try:
        rows = run_with_context(go)
    except (accounts_service.AccountNotFoundError, AmbiguousZoneError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"{rows} {kind.value} written to {output}", highlight=False)
