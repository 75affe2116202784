"""``magflow sync offers|orders``: run syncs in this process with a live progress bar."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from magflow.accounts import service as accounts_service
from magflow.common.dates import parse_user_datetime
from magflow.common.runtime import tune_gc
from magflow.context import AppContext
from magflow.sync import service
from magflow.sync.models import SyncKind, SyncLog, SyncMode, SyncStatus
from magflow.sync.wiring import build_engine

console = Console()


async def run_syncs(
    ctx: AppContext,
    kind: SyncKind,
    account: str | None,
    full: bool,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Queue one run per account and execute them here; returns each run's final view.

    ``since`` is read as the API reads it (``magflow.common.dates``): without a zone it is
    each account's platform time, resolved per account.
    """
    mode = service.sync_mode(kind, SyncMode.full if full else None, since)
    async with ctx.db.session() as session:
        if account:
            accounts = [await accounts_service.get_account(session, account)]
        else:
            accounts = list(await accounts_service.list_accounts(session, active_only=True))
        if not accounts:
            raise typer.BadParameter("no active eMAG account: add one with 'magflow accounts add'")
        names = {a.id: a.name for a in accounts}
        now = datetime.now(UTC)
        params = {a.id: service.since_params(since, a.platform, now) for a in accounts}
        runs: list[SyncLog] = []
        for acct in accounts:
            runs.append(
                await service.request_run(
                    session,
                    account_id=acct.id,
                    kind=kind,
                    mode=mode,
                    trigger="cli",
                    requested_by="cli",
                    params=params[acct.id],
                )
            )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("page {task.fields[page]}/{task.fields[pages]}"),
        TextColumn("{task.fields[rate]} items/s"),
        TextColumn("ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[int, TaskID] = {
            run.id: bar.add_task(
                f"{kind.value} {names[run.account_id or 0]}",
                total=None,
                page=0,
                pages="?",
                rate="-",
                eta="-",
            )
            for run in runs
        }

        async def publish(event_type: str, run: SyncLog, data: dict[str, Any]) -> None:
            view = service.progress_view(run)
            bar.update(
                tasks[run.id],
                total=view["total_items"],
                completed=view["processed_items"],
                page=view["current_page"],
                pages=view["total_pages"] if view["total_pages"] is not None else "?",
                rate=f"{view['throughput_per_second']:.0f}"
                if view["throughput_per_second"]
                else "-",
                eta=f"{view['eta_seconds']:.0f}s" if view["eta_seconds"] is not None else "-",
            )

        engine = build_engine(ctx, publish=publish)
        tune_gc()
        await asyncio.gather(*(engine.execute(run.id) for run in runs))

    results = []
    async with ctx.db.session() as session:
        for run in runs:
            final = await session.get(SyncLog, run.id)
            assert final is not None
            results.append(
                {
                    **service.progress_view(final),
                    "errors": final.errors,
                    "account": names[run.account_id or 0],
                    "api_calls": final.api_calls,
                }
            )
    return results


def print_summary(results: list[dict[str, Any]]) -> bool:
    table = Table("run", "account", "status", "items", "created", "updated", "API calls", "items/s")
    ok = True
    for r in results:
        ok &= r["status"] == SyncStatus.completed.value and not r["warning"]
        style = "green" if r["status"] == SyncStatus.completed.value else "red"
        if r["warning"]:
            style = "yellow"
        table.add_row(
            str(r["run_id"]),
            r["account"],
            f"[{style}]{r['status']}{' (warning)' if r['warning'] else ''}[/{style}]",
            f"{r['processed_items']}/{r['total_items']}",
            str(r["created_items"]),
            str(r["updated_items"]),
            str(r["api_calls"]),
            f"{r['throughput_per_second'] or 0:.0f}",
        )
    console.print(table)
    for r in results:
        if r["warning"]:
            console.print(
                f"[yellow]{r['account']}[/yellow] run {r['run_id']} warning: {r['warning']}; "
                f"confirm with 'magflow sync confirm-missing {r['run_id']}'",
                highlight=False,
            )
        for error in r["errors"][-5:]:
            console.print(
                f"[red]{r['account']}[/red] page {error.get('page')}: "
                + "; ".join(error.get("messages") or [error.get("message", "")]),
                highlight=False,
            )
    return ok


sync_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Sync offers or orders from eMAG now; confirm offers a run withheld from missing.",
)

AccountOption = Annotated[
    str | None, typer.Option(help="Account name or id (default: every active account).")
]
FullOption = Annotated[
    bool, typer.Option("--full", help="Orders: read the whole date range, not only changes.")
]
SinceOption = Annotated[
    datetime | None,
    typer.Option(
        parser=parse_user_datetime,
        metavar="DATE",
        help="Orders: read from this date (implies --full). 2026-11-20, 2026-11-20T08:30 "
        "(the account's platform time) or with a zone (…Z, …+02:00).",
    ),
]


def sync_command(
    kind: SyncKind, account: str | None, full: bool, since: datetime | None = None
) -> None:
    """Sync offers or orders from eMAG now, showing progress; exits non-zero unless every run
    completed without a warning."""
    from magflow.cli import fail, run_with_context

    async def go(ctx: AppContext) -> list[dict[str, Any]]:
        return await run_syncs(ctx, kind, account, full, since)

    try:
        results = run_with_context(go)
    except accounts_service.AccountNotFoundError as exc:
        raise fail(str(exc)) from exc
    except service.RunAlreadyActiveError as exc:
        raise fail(str(exc)) from exc
    except service.InvalidSyncRequestError as exc:
        raise fail(str(exc).replace("'since'", "--since").replace("mode 'full'", "--full")) from exc
    if not print_summary(results):
        raise typer.Exit(1)


@sync_app.command("offers")
def sync_offers(
    account: AccountOption = None, full: FullOption = False, since: SinceOption = None
) -> None:
    """Sync offers (always read whole); exits non-zero unless completed without a warning."""
    sync_command(SyncKind.offers, account, full, since)


@sync_app.command("orders")
def sync_orders(
    account: AccountOption = None, full: FullOption = False, since: SinceOption = None
) -> None:
    """Sync orders (incremental unless --full or --since); exits non-zero unless completed."""
    sync_command(SyncKind.orders, account, full, since)


@sync_app.command("confirm-missing")
def confirm_missing(
    run_id: Annotated[int, typer.Argument(help="The offers run whose warning to confirm.")],
) -> None:
    """Mark missing the offers a completed offers run withheld (see its warning), once."""
    from magflow.audit.service import Actor
    from magflow.cli import fail, run_with_context

    async def go(ctx: AppContext) -> service.MissingConfirmation:
        async with ctx.db.session() as session:
            done = await service.confirm_missing(
                session, run_id, confirmed_by="cli", now=datetime.now(UTC)
            )
            await session.commit()
        await service.after_missing_confirmed(ctx, Actor(None, "cli"), done)
        return done

    try:
        done = run_with_context(go)
    except (service.RunNotFoundError, service.ConfirmRefusedError) as exc:
        raise fail(str(exc)) from exc
    if done.already_confirmed:
        console.print(
            f"run {run_id}'s withheld offers were already confirmed "
            f"({done.run.missing_confirmed_by}): nothing changed",
            highlight=False,
        )
    else:
        console.print(f"run {run_id}: {done.marked} offers marked missing", highlight=False)
