"""Shared helpers of the sync benchmarks (``sync_rate``, ``sync_throughput``, ``sync_memory``).

Not a benchmark itself: running it prints the machine description and exits.

- :func:`machine`: nproc, CPU model, RAM, Python (for the figures' context);
- :func:`fresh_database`: a migrated, empty SQLite file or PostgreSQL database, dropped afterwards;
- :func:`bench_settings` / :func:`add_sim_account` / :func:`run_sync`: one sync run executed in this
  process exactly as ``magflow sync`` does (``service.request_run`` then ``build_engine(...)``);
- :func:`sim_stats`: the simulator's ``/_sim/stats``, grouped by eMAG rate-limit bucket.
"""

from __future__ import annotations

import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from magflow.accounts import service as accounts_service
from magflow.accounts.models import AccountType, EmagAccount
from magflow.accounts.schemas import AccountCreate, PlatformCode
from magflow.auth import service as auth_service
from magflow.auth.models import Role
from magflow.common.runtime import tune_gc
from magflow.context import AppContext
from magflow.db.migrate import upgrade
from magflow.emag_sim import SimAccount, SimulatorServer
from magflow.emag_sim.ratelimit import bucket_for
from magflow.settings import Settings, normalize_database_url
from magflow.sync import service
from magflow.sync.models import SyncKind, SyncLog, SyncMode
from magflow.sync.wiring import build_engine

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL_ENV = "MAGFLOW_BENCH_DATABASE_URL"


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            ram_kb = int(line.split()[1])
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(ram_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
    }


def machine_line() -> str:
    m = machine()
    return f"machine: {m['nproc']} CPUs, {m['cpu']}, {m['ram_gb']} GB RAM, Python {m['python']}"


@contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """Yield the async URL of a new, migrated, empty database; remove it afterwards.

    ``backend`` is ``sqlite`` (a file in a temporary directory) or ``postgresql`` (a database
    created on the server of ``MAGFLOW_BENCH_DATABASE_URL``, default :data:`DEFAULT_PG_URL`, and
    dropped with ``FORCE`` at the end)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="magflow-bench-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            upgrade(url)
            yield url
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    admin = make_url(normalize_database_url(os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL))
    name = f"magflow_bench_{os.getpid()}_{secrets.token_hex(3)}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_settings(database_url: str, var_dir: Path, **changes: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=var_dir,
        database_url=database_url,
        redis_url=None,
        secret_key=secrets.token_urlsafe(32),
        migrate_on_start=False,
        schedules_enabled=False,
        **changes,
    )


async def add_sim_account(
    ctx: AppContext, sim: SimulatorServer, sim_account: SimAccount
) -> EmagAccount:
    async with ctx.db.session() as session:
        account = await accounts_service.add_account(
            session,
            ctx.cipher,
            AccountCreate(
                name=sim_account.name,
                platform=PlatformCode.ro,
                account_type=AccountType(sim_account.account_type),
                username=sim_account.username,
                password=sim_account.password,
                base_url=sim.base_url,  # type: ignore[arg-type]
            ),
        )
        await session.commit()
        return account


@dataclass
class RunResult:
    run: SyncLog
    wall: float  # seconds, request to final status, measured here

    @property
    def seconds(self) -> float:
        """The run's own duration (started_at → finished_at, as stored)."""
        if self.run.started_at and self.run.finished_at:
            return (self.run.finished_at - self.run.started_at).total_seconds()
        return self.wall

    @property
    def items_per_second(self) -> float:
        return self.run.processed_items / self.seconds if self.seconds else 0.0


async def run_sync(
    ctx: AppContext,
    account: EmagAccount,
    kind: SyncKind,
    mode: SyncMode = SyncMode.full,
    params: dict[str, Any] | None = None,
) -> RunResult:
    """Queue one run and execute it in this process (as ``magflow sync`` does)."""
    started = time.perf_counter()
    async with ctx.db.session() as session:
        run = await service.request_run(
            session,
            account_id=account.id,
            kind=kind,
            mode=mode,
            trigger="bench",
            requested_by="bench",
            params=params,
        )
    engine = build_engine(ctx)
    tune_gc()
    await engine.execute(run.id)
    wall = time.perf_counter() - started
    async with ctx.db.session() as session:
        final = await session.get(SyncLog, run.id)
        assert final is not None
    if final.status != "completed":
        raise RuntimeError(f"{kind.value} run ended {final.status}: {final.errors[-3:]}")
    return RunResult(final, wall)


def sim_stats(sim: SimulatorServer, reset: bool = False) -> dict[str, Any]:
    """``/_sim/stats`` plus ``buckets``: {bucket: {route: requests}} (all statuses)."""
    with httpx.Client(base_url=sim.root_url, timeout=30) as control:
        stats: dict[str, Any] = control.get("/_sim/stats").json()
        if reset:
            control.delete("/_sim/stats")
    buckets: dict[str, dict[str, int]] = {}
    for route, statuses in stats.get("requests", {}).items():
        buckets.setdefault(bucket_for(route), {})[route] = sum(statuses.values())
    stats["buckets"] = buckets
    return stats


def peak_rss_mb() -> float:
    """Peak RSS of this process (``ru_maxrss`` is in KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    print(machine_line())


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def add_viewer(settings: Settings, email: str, password: str) -> None:
    """A viewer the benchmark logs in as."""
    ctx = AppContext.build(settings)
    try:
        async with ctx.db.session() as session:
            await auth_service.create_user(session, email, password, Role.viewer)
            await session.commit()
    finally:
        await ctx.close()


@contextmanager
def app_server(env: dict[str, str]) -> Iterator[str]:
    """``magflow.app:create_app`` under uvicorn in a subprocess with ``env`` added to this
    process's environment, on a free loopback port; yields its base URL once /health answers."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "magflow.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
