"""``magflow demo``: a working installation in one command.

It starts the built-in eMAG simulator in its own process (eMAG's rate limits on), adds its MAIN
and FBE accounts, resets the demo admin's password to a new generated one, runs a first sync of
offers and orders with progress bars, and serves the app. Schedules keep the data fresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

from magflow.accounts import service as accounts_service
from magflow.accounts.models import AccountType
from magflow.accounts.schemas import AccountCreate, PlatformCode
from magflow.auth import service as auth_service
from magflow.context import AppContext
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.sync import repository as sync_repository
from magflow.sync.cli import print_summary, run_syncs
from magflow.sync.models import SyncKind

DEMO_ADMIN_EMAIL = "admin@magflow.local"
DEMO_SEED = 2026
DEMO_OFFERS = 2000
DEMO_ORDERS = 3000


@dataclass(frozen=True)
class DemoSizes:
    offers: int = DEMO_OFFERS
    orders: int = DEMO_ORDERS


def start_simulator(sizes: DemoSizes) -> SimulatorServer:
    config = SimConfig(seed=DEMO_SEED, offers=sizes.offers, orders=sizes.orders, history_days=80)
    return SimulatorServer(config, subprocess=True).start()


async def prepare(
    ctx: AppContext, sim: SimulatorServer, admin_password: str, console: Console
) -> bool:
    """Admin, accounts and a first sync; returns whether every sync completed."""
    async with ctx.db.session() as session:
        await auth_service.set_demo_admin(session, DEMO_ADMIN_EMAIL, admin_password)
        for sim_account in sim.accounts:
            await accounts_service.upsert_account(
                session,
                ctx.cipher,
                AccountCreate(
                    name=f"demo-{sim_account.name}",
                    platform=PlatformCode(sim.config.platform),
                    account_type=AccountType(sim_account.account_type),
                    username=sim_account.username,
                    password=sim_account.password,
                    base_url=sim.base_url,  # type: ignore[arg-type]
                ),
            )
        await session.commit()
        busy = [run.id for run in await sync_repository.running_runs(session)]
    if busy:
        console.print(f"syncs {busy} are still queued from an earlier start; they resume on serve")
        return True
    ok = True
    for kind in (SyncKind.offers, SyncKind.orders):
        console.print(f"first sync of {kind.value}, paced to eMAG's rate limits:")
        ok &= print_summary(await run_syncs(ctx, kind, None, full=True))
    return ok
