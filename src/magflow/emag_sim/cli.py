"""``magflow simulator``: run the eMAG marketplace simulator in the foreground.

The lead wires it with ``app.command("simulator")(simulator)``.
"""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from magflow.common.runtime import tune_gc
from magflow.emag_sim.app import Simulator
from magflow.emag_sim.config import PLATFORMS, FaultConfig, SimAccount, SimConfig


def parse_account(spec: str) -> SimAccount:
    """``NAME:main|fbe:USERNAME:PASSWORD`` (the password may contain ``:``)."""
    parts = spec.split(":", 3)
    if len(parts) != 4 or not all(parts):
        raise typer.BadParameter(
            f"{spec!r} is not NAME:main|fbe:USERNAME:PASSWORD", param_hint="--account"
        )
    name, kind, username, password = parts
    if kind not in ("main", "fbe"):
        raise typer.BadParameter(
            f"account type must be 'main' or 'fbe', not {kind!r}", param_hint="--account"
        )
    return SimAccount(
        name=name,
        account_type="main" if kind == "main" else "fbe",
        username=username,
        password=password,
    )


def parse_faults(spec: str) -> FaultConfig:
    try:
        return FaultConfig.parse(spec)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from exc


def simulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8900,
    seed: Annotated[int, typer.Option(help="Seed of all generated data.")] = 1,
    offers: Annotated[int, typer.Option(help="Offers per account.")] = 1000,
    orders: Annotated[int, typer.Option(help="Orders per account.")] = 2000,
    account: Annotated[
        list[str] | None,
        typer.Option(
            help="An account as NAME:main|fbe:USERNAME:PASSWORD (repeatable). "
            "Default: one MAIN and one FBE account with generated credentials."
        ),
    ] = None,
    faults: Annotated[
        str,
        typer.Option(
            help="Fault probabilities, e.g. '429=0.1,500=0.05,502=0.01,504=0.01,timeout=0.02,"
            "malformed=0.01,is_error=0.01,slow=0.05,slow_seconds=2,timeout_seconds=30,seed=7'; "
            "bad counts: count_zero, count_unparseable, count_missing; "
            "edit=0.1: an order just read is edited on eMAG's side (once per order)."
        ),
    ] = "",
    no_rate_limit: Annotated[
        bool, typer.Option("--no-rate-limit", help="Do not enforce eMAG's rate limits.")
    ] = False,
    platform: Annotated[
        str, typer.Option(help="Platform: ro, bg, hu or FashionDays fd_ro, fd_bg.")
    ] = "ro",
) -> None:
    """Run the eMAG marketplace simulator (API at /api-3, control API at /_sim)."""
    accounts = [parse_account(spec) for spec in account or []]
    fault_config = parse_faults(faults)
    platform = platform.lower()
    if platform not in PLATFORMS:
        raise typer.BadParameter(
            f"platform must be one of {', '.join(PLATFORMS)}", param_hint="--platform"
        )
    if offers < 0 or orders < 0:
        raise typer.BadParameter("sizes must not be negative")
    try:
        config = SimConfig(
            seed=seed,
            offers=offers,
            orders=orders,
            platform=platform,  # type: ignore[arg-type]
            accounts=accounts,
            faults=fault_config,
            rate_limit=not no_rate_limit,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    sim = Simulator(config)
    tune_gc()  # after the data are generated: they live as long as the process
    typer.echo(f"eMAG simulator on http://{host}:{port}/api-3 (control API: /_sim)")
    for acc in config.effective_accounts():
        line = f"  {acc.name} ({acc.account_type})"
        if not accounts:
            line += f": username={acc.username} password={acc.password}"
        typer.echo(line)
    uvicorn.run(sim.app, host=host, port=port, log_level="warning", access_log=False)
