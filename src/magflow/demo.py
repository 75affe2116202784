"""``magflow demo``: a working installation in one command.

It starts the built-in eMAG simulator in its own process (eMAG's rate limits on), adds its MAIN
and FBE accounts (or points the ones an earlier start made at the new simulator), creates the
demo admin with a generated password the first time, runs a first sync of offers and orders
with progress bars unless an earlier start completed one, and serves the app. Schedules keep
the data fresh.

Only one demo runs per ``MAGFLOW_VAR_DIR`` and port: a running one is found by its state file
(``<var>/demo.json``: its process id and URL) and by its port, and a second start is refused
before it touches anything, since it would re-point the accounts at its own simulator (which
dies with it) and change the running demo's data under it. A later start, once the first has
stopped, reuses the database, the accounts and the admin, whose password stays what it was
(``--reset-password`` sets a new one, printed once).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from magflow.accounts import service as accounts_service
from magflow.accounts.models import AccountType
from magflow.accounts.schemas import AccountCreate, PlatformCode
from magflow.auth import repository as auth_repository
from magflow.auth import service as auth_service
from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.invoicing.service import ensure_demo_settings
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


STATE_FILE = "demo.json"


class DemoAlreadyRunningError(RuntimeError):
    """Another demo is serving (or starting) on this port or with this var directory."""


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running ``magflow demo`` (a reused pid of another program is not)."""
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        with contextlib.suppress(OSError):
            return b"demo" in cmdline.read_bytes()
    return True


def _port_open(host: str, port: int) -> bool:
    target = host
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(host)
        if address.is_unspecified:  # listening on every interface: ask the loopback one
            target = "::1" if address.version == 6 else "127.0.0.1"
    try:
        with socket.create_connection((target, port), timeout=1):
            return True
    except OSError:
        return False


def demo_url(host: str, port: int) -> str:
    return f"http://{host}:{port}/"


def claim(var_dir: Path, host: str, port: int) -> Path:
    """Refuse when a demo is running here, else record this one; returns the state file.

    Runs before anything is changed: a refused start leaves the running demo as it was."""
    state = var_dir / STATE_FILE
    if state.exists():
        try:
            recorded = json.loads(state.read_text())
            pid, url = int(recorded["pid"]), str(recorded["url"])
        except (OSError, ValueError, KeyError, TypeError):
            pid, url = 0, ""
        if _alive(pid):
            raise DemoAlreadyRunningError(
                f"a MagFlow demo is already running at {url} (process {pid}, same "
                f"MAGFLOW_VAR_DIR {var_dir}); use it, or stop it (Ctrl+C) before starting "
                "another"
            )
    url = demo_url(host, port)
    if _port_open(host, port):
        raise DemoAlreadyRunningError(
            f"{url} is already serving (a MagFlow demo or another program); open it, stop "
            "it, or start the demo on another port with --port"
        )
    var_dir.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    return state


def release(state: Path) -> None:
    """Forget this demo's state file (only if it is still this process's)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        if int(json.loads(state.read_text())["pid"]) == os.getpid():
            state.unlink()


async def ensure_admin(ctx: AppContext, password: str, reset: bool) -> bool:
    """Create the demo admin with ``password``, or keep the existing one as it is (its password
    and sessions) unless ``reset`` or it can no longer log in as an admin. Returns whether
    ``password`` is now the admin's (and must be shown)."""
    async with ctx.db.session() as session:
        user = await auth_repository.get_by_email(session, DEMO_ADMIN_EMAIL)
        usable = user is not None and user.is_active and user.role == Role.admin.value
        if usable and not reset:
            return False
        await auth_service.set_demo_admin(session, DEMO_ADMIN_EMAIL, password)
        await session.commit()
        return True


async def prepare(
    ctx: AppContext, sim: SimulatorServer, console: Console, public_url: str | None = None
) -> bool:
    """Accounts (with the built-in invoicing provider, PDFs served at ``public_url``) and a first
    sync; returns whether every sync completed."""
    async with ctx.db.session() as session:
        account_ids = []
        for sim_account in sim.accounts:
            account = await accounts_service.upsert_account(
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
            account_ids.append(account.id)
            if public_url:
                await ensure_demo_settings(session, account.id, public_url)
        await session.commit()
        busy = [run.id for run in await sync_repository.running_runs(session)]
        synced = True
        for account_id in account_ids:
            for kind in (SyncKind.offers, SyncKind.orders):
                last = await sync_repository.last_completed(session, account_id, kind.value)
                synced &= last is not None
    if busy:
        console.print(f"syncs {busy} are still queued from an earlier start; they resume on serve")
        return True
    if synced:
        console.print("reusing the data of an earlier start (schedules keep it fresh)")
        return True
    ok = True
    for kind in (SyncKind.offers, SyncKind.orders):
        console.print(f"first sync of {kind.value}, paced to eMAG's rate limits:")
        ok &= print_summary(await run_syncs(ctx, kind, None, full=True))
    return ok
