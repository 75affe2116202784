"""Async engine and session factory for SQLite (aiosqlite) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from magflow.settings import private_sqlite_file, sqlite_path

logger = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (dashboards, progress polls) run beside a sync's writes; the busy timeout
    makes concurrent writers wait instead of failing with "database is locked". The timeout goes
    first: switching to WAL takes a lock, which another connection may hold at that moment. WAL
    is kept in the file, so it is only switched on when the file is not in WAL yet: asking again
    on every new connection still took that lock, and a connection opened while another one
    wrote failed with "database is locked" despite the timeout (seen once in CI)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _json_dumps(value: Any) -> str:
    """orjson: the raw eMAG payloads stored with every row make JSON encoding a hot path."""
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class PoolLimits:
    """Connections a process keeps (``size``), may add under load (``overflow``), and how long a
    checkout waits for one before SQLAlchemy raises ``TimeoutError`` (``timeout``, seconds).

    The wait is short on purpose: a request that cannot get a connection soon is better answered
    ``503`` + ``Retry-After`` at once (``common/errors.py``) than left queueing behind others,
    each one slower, until the clients time out (SQLAlchemy's default wait is 30 s)."""

    size: int = 10
    overflow: int = 10
    timeout: float = 3.0


def create_engine(
    url: str,
    pool: PoolLimits | None = None,
    backend_nice: int | None = 0,
    parallel_workers: int | None = None,
) -> AsyncEngine:
    """An engine for ``url``. On PostgreSQL, ``backend_nice`` is the CPU priority its server
    processes run at (:func:`renice_backends`; None: this process's own), and
    ``parallel_workers`` the parallel workers one of its queries may use
    (:func:`limit_parallel_query`; None: the server's setting)."""
    pool = pool or PoolLimits()
    json_options: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }
    pool_options: dict[str, Any] = {
        "pool_size": pool.size,
        "max_overflow": pool.overflow,
        "pool_timeout": pool.timeout,
    }
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            private_sqlite_file(path)  # 0600 in a 0700 directory when created here
        else:
            pool_options = {}  # in memory, one connection (StaticPool): nothing to size or wait for
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, **pool_options, **json_options
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, **pool_options, **json_options)
    ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    in_utc(engine)
    if backend_nice is None:
        backend_nice = os.getpriority(os.PRIO_PROCESS, 0)
    if backend_nice > 0:
        renice_backends(engine, backend_nice)
    if parallel_workers is not None:
        limit_parallel_query(engine, parallel_workers)
    return engine


def _set_on_connect(engine: AsyncEngine, statement: str) -> None:
    """Run ``statement`` (a ``SET``) on each new connection of ``engine``. A ``SET`` rather than
    a startup option, which connection poolers such as PgBouncer refuse."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        dbapi_connection.commit()

    event.listen(engine.sync_engine, "connect", on_connect)


def in_utc(engine: AsyncEngine) -> None:
    """Put ``engine``'s connections in UTC (``SET TIME ZONE 'UTC'``), whatever the server's
    ``TimeZone``: psycopg then gives every ``timestamptz`` in ``datetime.timezone.utc`` (its own
    name for ``UTC``; a server set to ``Etc/UTC`` or a local zone gives a ``ZoneInfo``), which is
    what ``db.base.UTCDateTime`` would turn it into: a page read through psycopg directly skips
    that conversion (``db.query._RawStatement``). MagFlow's SQL never depends on the session's
    zone (a day or an hour is cut in a zone it names: ``orders.repository``)."""
    _set_on_connect(engine, "SET TIME ZONE 'UTC'")


def limit_parallel_query(engine: AsyncEngine, workers: int) -> None:
    """Let each query of ``engine``'s connections use at most ``workers`` parallel workers
    (PostgreSQL's ``max_parallel_workers_per_gather``, set on each new connection).

    PostgreSQL's default (2) lets one query take three CPUs: a listing's ``COUNT(*)`` over
    hundreds of thousands of orders, or the customers summary, ran on both CPUs of a 2-vCPU
    machine for tens of milliseconds, and every other request of every API process waited
    (BENCHMARKS.md, issue 18's seventh and eighth sessions: with it off, the capacity steps'
    p95 fell from 96-175 ms to 51-84 ms). MagFlow's queries are a web application's: many small
    ones at once, which gain nothing from being split, so its default is 0."""
    _set_on_connect(engine, f"SET max_parallel_workers_per_gather = {int(workers)}")


def _local_host(host: str) -> bool:
    """A PostgreSQL host that is this machine: a Unix socket directory or a loopback address."""
    return host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")


def lower_server_priority(pid: int, nice: int) -> bool:
    """Give PostgreSQL's process ``pid`` CPU priority ``nice`` unless it already runs at that or
    lower, and its session's scheduling group too (:func:`lower_session_priority`); False (and
    nothing done) when ``pid`` is not a PostgreSQL process or already runs that low. Raises
    OSError without the permission."""
    with open(f"/proc/{pid}/comm", encoding="ascii") as comm:
        if comm.read().strip() != "postgres":
            return False
    lowered = False
    if os.getpriority(os.PRIO_PROCESS, pid) < nice:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
        lowered = True
    return lower_session_priority(pid, nice) or lowered


#: Linux's switch for autogroups (``CONFIG_SCHED_AUTOGROUP``; absent on kernels without them).
AUTOGROUP_SWITCH = "/proc/sys/kernel/sched_autogroup_enabled"


def autogroups_on() -> bool:
    """Whether the kernel shares the CPUs by session (see :func:`lower_session_priority`)."""
    try:
        with open(AUTOGROUP_SWITCH, encoding="ascii") as switch:
            return switch.read().strip() == "1"
    except FileNotFoundError:
        return False


def lower_session_priority(pid: int, nice: int) -> bool:
    """Give the autogroup of ``pid``, when it is a session of its own, CPU priority ``nice``
    unless it already has that or lower; False when nothing changed.

    Why: with autogroups on (Linux's default on many distributions, and on these benchmark
    machines), the scheduler first shares the CPUs between *sessions*, equally at equal
    autogroup nice, and a process's own nice only counts against the processes of its session.
    Every PostgreSQL server process starts a session of its own (``setsid``), so a server
    process at ``nice 10`` still had a whole session's share, as much as all the processes
    started from one shell together (BENCHMARKS.md, issue 18's thirteenth session). Setting
    the autogroup's nice (``/proc/<pid>/autogroup``) is what makes the nice count. Only for a
    process that leads its own session: another's group would be shared (with the server's
    other processes, say). Nothing to do where autogroups are off or where the server runs in a
    cgroup of its own (systemd, a container: :func:`_in_root_cgroup`): the kernel then ignores
    autogroups and the process's nice counts within its cgroup, whose weight is the
    deployment's to set. Raises OSError without the permission (root, or the server's own user
    within the kernel's limit of one change per 100 ms)."""
    if not autogroups_on() or os.getsid(pid) != pid or not _in_root_cgroup(pid):
        return False
    path = f"/proc/{pid}/autogroup"
    with open(path, encoding="ascii") as group:
        # "/autogroup-123 nice 0"
        if int(group.read().split()[-1]) >= nice:
            return False
    with open(path, "w", encoding="ascii") as group:
        group.write(str(nice))
    return True


def _in_root_cgroup(pid: int) -> bool:
    """Whether ``pid`` runs in the root CPU cgroup, the only one where the kernel schedules by
    autogroup."""
    with open(f"/proc/{pid}/cgroup", encoding="ascii") as groups:
        return cgroup_is_root(groups.read())


def cgroup_is_root(cgroups: str) -> bool:
    """Whether ``/proc/<pid>/cgroup``'s text puts the process in the root CPU cgroup: that of
    cgroup v1's ``cpu`` hierarchy when one is mounted, else the v2 hierarchy's."""
    lines = [line.split(":", 2) for line in cgroups.splitlines() if line.count(":") >= 2]
    for _, controllers, path in lines:
        if "cpu" in controllers.split(","):
            return path == "/"
    return all(path == "/" for hierarchy, _, path in lines if hierarchy == "0")


def renice_backends(engine: AsyncEngine, nice: int) -> None:
    """Run the PostgreSQL server process of each new connection at CPU priority ``nice``.

    PostgreSQL serves every connection in a process of its own, at the server's priority: a
    worker at ``nice 10`` still has its sync's writes (most of the sync's CPU) done at full
    priority, beside the API's reads (deploy/README.md, "Giving the API priority over the sync").
    When the server runs on this machine, each new connection's server process (psycopg's
    ``backend_pid``) is given ``nice``, and so is its session's autogroup where the kernel has
    them (:func:`lower_session_priority`), so the sync's database work yields to the API's as
    the worker itself does. Only ever lowered (a process already at ``nice`` or lower priority is
    left alone), only a process that is PostgreSQL's (``/proc/<pid>/comm``: a server in a
    container has pids of its own namespace), and never at the cost of the connection: without
    the permission (root, the server's own user, or ``CAP_SYS_NICE``) it is said once in the
    log and the connection is used as it is."""
    warned = False

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        nonlocal warned
        info = dbapi_connection.driver_connection.info
        if not _local_host(info.host):
            return
        try:
            lower_server_priority(info.backend_pid, nice)
        except OSError as error:
            if not warned:
                warned = True
                logger.warning(
                    "database server processes do not all get nice %d: %s; see "
                    "deploy/README.md (giving the API priority over the sync) or set "
                    "MAGFLOW_DB_BACKEND_NICE=0",
                    nice,
                    error.strerror or error,
                )

    event.listen(engine.sync_engine, "connect", on_connect)


#: A pooled connection idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 5.0


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it sat idle over ``idle_seconds``.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip per request
    (``;`` and its answer), a fifth of a listing's socket work in the API (BENCHMARKS.md,
    "load.py"). Under load a connection is back in use within milliseconds, and the ping only
    matters for one that sat idle while the server restarted or a proxy dropped it; so only
    those are pinged. A dead connection found by the ping is replaced transparently (the pool
    retries the checkout on ``DisconnectionError``). One found dead on use within the idle
    window (the server restarted seconds ago) fails that request, and SQLAlchemy then discards
    every connection of the pool opened before it, as with ``pool_pre_ping``'s own misses."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["magflow_idle_since"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("magflow_idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return  # new (just connected) or recently used
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.DisconnectionError() from error
            raise

    event.listen(pool, "checkin", checkin)
    event.listen(pool, "checkout", checkout)


#: Read sessions a process keeps on connections of their own (PostgreSQL), at most: half the pool,
#: so that a small pool keeps connections free for writes (a pool of one keeps none).
KEPT_READ_SESSIONS = 8


@dataclass
class _KeptRead:
    """A read session bound to a connection it keeps between requests."""

    connection: AsyncConnection
    session: AsyncSession
    idle_since: float = field(default_factory=time.monotonic)


class Database:
    """One engine and its session factory; owned by the app or the CLI command that made it."""

    def __init__(
        self,
        url: str,
        pool: PoolLimits | None = None,
        backend_nice: int | None = 0,
        parallel_workers: int | None = None,
    ) -> None:
        self.url = url
        self.engine = create_engine(url, pool, backend_nice, parallel_workers)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Kept read sessions (see read_session): idle ones, and how many exist.
        self._kept_idle: list[_KeptRead] = []
        self._kept_count = 0
        self._kept_most = min(KEPT_READ_SESSIONS, (pool or PoolLimits()).size // 2)
        self._disposed = False
        # Reads that need no transaction (the listings, see ``common/deps.read_only``): on
        # PostgreSQL the connection is in autocommit for the request, so psycopg sends no
        # ``BEGIN`` before the first statement and no ``ROLLBACK`` when the session closes: two
        # of a listing's five round trips, each a socket write and a wake-up in the API and in
        # PostgreSQL (BENCHMARKS.md, "load.py"). Each statement then sees its own snapshot,
        # which a listing's page and its (cached, approximate anyway) total can afford. SQLite
        # starts no transaction for a SELECT anyway: it keeps the ordinary factory.
        postgresql = self.engine.dialect.name == "postgresql"
        self.read_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT") if postgresql else None
        )
        self.read_sessionmaker = (
            async_sessionmaker(self.read_engine, expire_on_commit=False)
            if self.read_engine is not None
            else self.sessionmaker
        )
        if not postgresql:
            self._kept_most = 0  # SQLite: a read session starts no transaction anyway

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction is rolled back unless the caller commits."""
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only: no transaction on PostgreSQL (every statement commits on
        its own), so a write through it would not be rolled back. Never commit through it.

        On PostgreSQL the session and its connection are kept for the next read (up to
        :data:`KEPT_READ_SESSIONS`, beyond that an ordinary pooled one): a pooled session
        checks a connection out of the pool, wraps it, switches it to autocommit and back and
        checks it in again on every request, a sixth of a short listing's CPU (issue 18,
        BENCHMARKS.md "load.py"). A kept connection idle for :data:`PING_AFTER_IDLE_SECONDS` is
        pinged before use, as the pool does, and one that failed is given back to the pool
        (which replaces it) instead of being kept."""
        kept = await self._take_kept_read() if self._kept_most else None
        if kept is None:
            async with self.read_sessionmaker() as session:
                yield session
            return
        try:
            yield kept.session
        finally:
            await self._keep_read(kept)

    async def _take_kept_read(self) -> _KeptRead | None:
        while self._kept_idle:
            kept = self._kept_idle.pop()
            if time.monotonic() - kept.idle_since < PING_AFTER_IDLE_SECONDS:
                return kept
            try:
                await kept.connection.exec_driver_sql("SELECT 1")
                return kept
            except exc.DBAPIError:
                await self._drop_kept_read(kept)  # a dead connection: the pool replaces it
        if self._kept_count >= self._kept_most or self._disposed or self.read_engine is None:
            return None
        connection = await self.read_engine.connect()
        self._kept_count += 1
        return _KeptRead(connection, AsyncSession(bind=connection, expire_on_commit=False))

    async def _keep_read(self, kept: _KeptRead) -> None:
        session, connection = kept.session, kept.connection
        try:
            # Nothing begun and nothing loaded (a request answered from caches): nothing to end.
            if session.in_transaction() or session.sync_session.identity_map or session.info:
                await session.close()
                session.info.clear()
        except BaseException:
            await self._drop_kept_read(kept)
            raise
        if self._disposed or connection.invalidated or connection.in_transaction():
            await self._drop_kept_read(kept)
            return
        kept.idle_since = time.monotonic()
        self._kept_idle.append(kept)

    async def _drop_kept_read(self, kept: _KeptRead) -> None:
        self._kept_count -= 1
        try:
            await kept.session.close()
        finally:
            await kept.connection.close()

    def kept_reads(self) -> tuple[int, int]:
        """Kept read sessions: (idle, in use)."""
        idle = len(self._kept_idle)
        return idle, self._kept_count - idle

    async def dispose(self) -> None:
        self._disposed = True
        while self._kept_idle:
            await self._drop_kept_read(self._kept_idle.pop())
        await self.engine.dispose()
