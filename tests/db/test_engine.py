from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import TextClause, text
from sqlalchemy.exc import DBAPIError

from magflow.app import ROUTERS
from magflow.common.deps import is_read_only
from magflow.context import AppContext
from magflow.db import engine as engine_module
from magflow.db.engine import (
    Database,
    PoolLimits,
    _local_host,
    autogroups_on,
    cgroup_is_root,
    lower_server_priority,
    ping_when_idle,
)
from magflow.settings import Settings


async def test_reads_run_without_a_transaction_on_postgresql(ctx: AppContext) -> None:
    """On PostgreSQL each statement of a read session is its own transaction (no BEGIN, no
    ROLLBACK round trips); the ordinary session keeps one transaction. SQLite: both are the
    ordinary session, which starts no transaction for a SELECT anyway."""
    if ctx.db.engine.dialect.name != "postgresql":
        assert ctx.db.read_sessionmaker is ctx.db.sessionmaker
        return
    txid = text("SELECT txid_current()")
    async with ctx.db.read_session() as session:
        first, second = [(await session.execute(txid)).scalar_one() for _ in range(2)]
    assert first != second
    async with ctx.db.session() as session:
        first, second = [(await session.execute(txid)).scalar_one() for _ in range(2)]
    assert first == second


def test_the_load_mix_listings_and_only_they_read_without_a_transaction() -> None:
    marked = {
        (route.path, method)
        for route in (route for router in ROUTERS for route in router.routes)
        if isinstance(route, APIRoute) and is_read_only(route.endpoint)
        for method in route.methods
    }
    assert marked == {
        ("/api/v1/emag/offers", "GET"),
        ("/api/v1/emag/orders", "GET"),
        ("/api/v1/admin/emag-customers", "GET"),
        ("/api/v1/emag/sync-logs", "GET"),
        ("/api/v1/emag/enhanced/status", "GET"),
        ("/api/v1/emag/enhanced/products/sync-progress", "GET"),
    }


async def test_a_connection_dropped_while_idle_is_replaced_before_use(ctx: AppContext) -> None:
    """No ping per checkout any more, only after an idle spell (here: any); a pooled
    connection whose server process was terminated meanwhile is replaced, not handed out."""
    if ctx.db.engine.dialect.name != "postgresql":
        return
    database = Database(ctx.settings.async_database_url, PoolLimits(size=1, overflow=0))
    ping_when_idle(database.engine, 0)
    pid = text("SELECT pg_backend_pid()")
    try:
        async with database.read_session() as session:
            first = (await session.execute(pid)).scalar_one()
        async with ctx.db.read_session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
        async with database.read_session() as session:
            assert (await session.execute(pid)).scalar_one() != first
    finally:
        await database.dispose()


PID = text("SELECT pg_backend_pid()")


async def _read_pid(database: Database) -> int:
    async with database.read_session() as session:
        return int((await session.execute(PID)).scalar_one())


async def test_read_sessions_keep_their_connection_between_reads(ctx: AppContext) -> None:
    """PostgreSQL: a read session and its connection serve the next read (no checkout, no
    autocommit switch); two reads at once get two; a small pool keeps none for reads, so
    writes always find a connection. SQLite keeps none."""
    postgresql = ctx.db.engine.dialect.name == "postgresql"
    database = Database(ctx.settings.async_database_url, PoolLimits(size=4, overflow=0))
    try:
        if not postgresql:
            async with database.read_session() as session:
                await session.execute(text("SELECT 1"))
            assert database.kept_reads() == (0, 0)
            return
        first = await _read_pid(database)
        assert await _read_pid(database) == first
        assert database.kept_reads() == (1, 0)
        async with database.read_session() as one, database.read_session() as two:
            pids = {(await s.execute(PID)).scalar_one() for s in (one, two)}
            assert database.kept_reads() == (0, 2)
            # Beyond half the pool (2 of 4): an ordinary pooled session, still a read.
            async with database.read_session() as three:
                assert (await three.execute(PID)).scalar_one() not in pids
            assert database.kept_reads() == (0, 2)
        assert database.kept_reads() == (2, 0)
        assert first in pids
        pool = database.engine.sync_engine.pool
        assert pool.checkedout() == 2  # the two kept ones, idle
    finally:
        await database.dispose()
    assert database.kept_reads() == (0, 0)
    assert database.engine.sync_engine.pool.checkedout() == 0

    small = Database(ctx.settings.async_database_url, PoolLimits(size=1, overflow=0, timeout=1))
    try:
        await _read_pid(small)
        assert small.kept_reads() == (0, 0)
        async with small.session() as session:  # the only connection is free for a write
            await session.execute(text("SELECT 1"))
    finally:
        await small.dispose()


async def test_a_kept_read_connection_that_died_is_replaced(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle past the ping delay (here: always), a kept connection is pinged before use: one
    whose server process was terminated is given back to the pool and the read gets another.
    One that dies during a read fails that read (as a pooled one does) and is not kept."""
    if ctx.db.engine.dialect.name != "postgresql":
        return
    database = Database(ctx.settings.async_database_url, PoolLimits(size=4, overflow=0))
    terminate = text("SELECT pg_terminate_backend(:p)")
    try:
        first = await _read_pid(database)
        async with ctx.db.session() as session:
            await session.execute(terminate, {"p": first})
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        second = await _read_pid(database)
        assert second != first
        assert database.kept_reads() == (1, 0)

        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)  # no ping
        async with ctx.db.session() as session:
            await session.execute(terminate, {"p": second})
        with pytest.raises(DBAPIError):
            await _read_pid(database)
        assert database.kept_reads() == (0, 0)
        assert await _read_pid(database) not in (first, second)
    finally:
        await database.dispose()


async def test_a_read_that_raises_keeps_its_session_usable(ctx: AppContext) -> None:
    """An error in the route (a 404, say) ends the read; the kept session is cleaned and the
    next read works on it, with nothing left of the last one."""
    database = Database(ctx.settings.async_database_url, PoolLimits(size=4, overflow=0))
    try:
        with pytest.raises(LookupError):
            async with database.read_session() as session:
                await session.execute(text("SELECT 1"))
                session.info["left"] = True
                raise LookupError("no such thing")
        async with database.read_session() as session:
            assert "left" not in session.info
            assert (await session.execute(text("SELECT 2"))).scalar_one() == 2
    finally:
        await database.dispose()


def _parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _autogroup_nice(pid: int) -> int:
    with open(f"/proc/{pid}/autogroup", encoding="ascii") as group:
        return int(group.read().split()[-1])


async def test_server_processes_run_at_the_priority_asked(ctx: AppContext) -> None:
    """A connection's PostgreSQL process gets the ``backend_nice`` asked; 0 leaves it at the
    server's; a process already at lower priority is not raised; a process that is not
    PostgreSQL's is never touched."""
    if ctx.db.engine.dialect.name != "postgresql":
        return
    if os.geteuid() != 0:
        pytest.skip("renicing PostgreSQL's processes takes root here")
    niced = Database(ctx.settings.async_database_url, PoolLimits(size=2, overflow=0), 10)
    plain = Database(ctx.settings.async_database_url, PoolLimits(size=2, overflow=0), 0)
    try:
        niced_pid = await _read_pid(niced)
        assert os.getpriority(os.PRIO_PROCESS, niced_pid) == 10
        pid = await _read_pid(plain)
        server_nice = os.getpriority(os.PRIO_PROCESS, _parent_pid(pid))
        assert os.getpriority(os.PRIO_PROCESS, pid) == server_nice < 10
        if autogroups_on():
            # Each server process leads a session of its own, whose group gets the nice too.
            assert os.getsid(niced_pid) == niced_pid
            assert _autogroup_nice(niced_pid) == 10
            assert _autogroup_nice(pid) < 10
        os.setpriority(os.PRIO_PROCESS, pid, 15)
        # Its own nice is lower already: only its group's (if any) changes.
        assert lower_server_priority(pid, 10) is autogroups_on()
        assert os.getpriority(os.PRIO_PROCESS, pid) == 15
        assert lower_server_priority(pid, 10) is False
        assert lower_server_priority(pid, 17) is True
        assert os.getpriority(os.PRIO_PROCESS, pid) == 17
        if autogroups_on():
            assert _autogroup_nice(pid) == 17
    finally:
        await niced.dispose()
        await plain.dispose()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert lower_server_priority(sleeper.pid, 10) is False
        assert os.getpriority(os.PRIO_PROCESS, sleeper.pid) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_by_default_server_processes_follow_the_process_priority(settings: Settings) -> None:
    """Unset (the default), the priority is the process's own: a worker started at ``nice 6``
    has its database work done at 6."""
    if not settings.async_database_url.startswith("postgresql"):
        return
    if os.geteuid() != 0:
        pytest.skip("renicing PostgreSQL's processes takes root here")
    script = (
        "import asyncio, os, sys\n"
        "from sqlalchemy import text\n"
        "from magflow.db.engine import Database\n"
        "async def main():\n"
        "    db = Database(sys.argv[1], backend_nice=None)\n"
        "    async with db.session() as s:\n"
        "        pid = (await s.execute(text('SELECT pg_backend_pid()'))).scalar_one()\n"
        "    print(os.getpriority(os.PRIO_PROCESS, pid))\n"
        "    await db.dispose()\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        ["nice", "-n", "6", sys.executable, "-c", script, settings.async_database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # nice adds to the niceness it starts from (this process's), up to 19.
    assert done.stdout.strip() == str(min(19, os.getpriority(os.PRIO_PROCESS, 0) + 6))


async def test_without_the_permission_connections_work_and_it_is_said_once(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if ctx.db.engine.dialect.name != "postgresql":
        return

    def refused(_which: int, _who: int, _prio: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "setpriority", refused)
    database = Database(ctx.settings.async_database_url, PoolLimits(size=2, overflow=0), 19)
    try:
        with caplog.at_level(logging.WARNING, logger="magflow"):
            async with database.session() as one, database.session() as two:
                for session in (one, two):
                    assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await database.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "do not all get nice 19" in warnings[0]
    assert "Operation not permitted" in warnings[0]


@pytest.mark.parametrize(
    ("cgroups", "root"),
    [
        ("0::/\n", True),  # cgroup v2, no cgroup of its own (autogroups decide)
        ("0::/system.slice/postgresql@15-main.service\n", False),  # v2, systemd
        ("3:cpuset:/\n2:cpu,cpuacct:/\n1:name=systemd:/\n0::/\n", True),  # v1
        ("2:cpu,cpuacct:/docker/4f2a\n1:memory:/docker/4f2a\n0::/\n", False),  # v1, a container
        ("4:memory:/process_api/c8f6\n1:cpu:/\n0::/\n", True),  # v1, only memory limited
        ("1:name=systemd:/system.slice/pg.service\n0::/system.slice/pg.service\n", False),
    ],
)
def test_autogroups_count_only_in_the_root_cpu_cgroup(cgroups: str, root: bool) -> None:
    assert cgroup_is_root(cgroups) is root


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("/var/run/postgresql", True),
        ("localhost", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("db.internal", False),
        ("10.0.0.5", False),
    ],
)
def test_only_a_server_on_this_machine_is_reniced(host: str, local: bool) -> None:
    assert _local_host(host) is local


async def _shown_in_every_session(database: Database, show: TextClause) -> list[str]:
    """What ``show`` answers in a read (autocommit) session, an ordinary one, and that one
    after a rollback."""
    async with database.read_session() as session:
        shown = [(await session.execute(show)).scalar_one()]
    async with database.session() as session:
        shown.append((await session.execute(show)).scalar_one())
        await session.rollback()
        shown.append((await session.execute(show)).scalar_one())
    return shown


async def test_queries_use_the_parallel_workers_asked_in_every_session(ctx: AppContext) -> None:
    """The app's connections run with no parallel workers by default (``db_parallel_workers``
    0), in ordinary and read (autocommit) sessions alike, also after a rollback; unset, the
    server's own setting stays."""
    if ctx.db.engine.dialect.name != "postgresql":
        return
    show = text("SHOW max_parallel_workers_per_gather")
    assert ctx.settings.db_parallel_workers == 0
    assert await _shown_in_every_session(ctx.db, show) == ["0", "0", "0"]
    three = Database(ctx.settings.async_database_url, PoolLimits(size=1, overflow=0), 0, 3)
    servers = Database(ctx.settings.async_database_url, PoolLimits(size=1, overflow=0), 0, None)
    try:
        async with three.session() as session:
            assert (await session.execute(show)).scalar_one() == "3"
        async with servers.session() as session:
            server_default = (await session.execute(show)).scalar_one()
        async with servers.read_session() as session:
            assert (
                await session.execute(
                    text("SELECT reset_val FROM pg_settings WHERE name = :n"),
                    {"n": "max_parallel_workers_per_gather"},
                )
            ).scalar_one() == server_default
    finally:
        await three.dispose()
        await servers.dispose()


async def test_sessions_run_in_utc_whatever_the_servers_zone(ctx: AppContext) -> None:
    """Every connection is put in UTC (``in_utc``), in ordinary and read sessions alike, also
    after a rollback, whatever the server's zone (``Etc/UTC`` on the CI's server, which psycopg
    reads as a ``ZoneInfo``)."""
    if ctx.db.engine.dialect.name != "postgresql":
        return
    assert await _shown_in_every_session(ctx.db, text("SHOW TIME ZONE")) == ["UTC"] * 3
