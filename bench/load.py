"""Load: a steady rate of read requests mixed with many WebSocket clients while a sync runs.

    .venv/bin/python bench/load.py [--topology deployment|single] [--rps N] [--clients 1000]
                                   [--seconds 60] [--warmup 10] [--orders N] [--apis 2]
                                   [--workers 2] [--client raw|httpx] [--redis-url URL]
                                   [--profile DIR] [--endpoint-costs N] [--reads 2,3]
                                   [--start-rps 100] [--max-steps 9] [--step-seconds 12]
                                   [--step-warmup 3] [--step-retries 1] [--overload-seconds 60]
                                   [--costs-requests 150]

With no ``--rps`` (the default) it runs issue 18's goal: (1) each path of READS alone against its
*floor* (:func:`endpoint_costs`: a minimal ASGI app running the same SQL with psycopg and writing
the rows with orjson), (2) a capacity search (:func:`capacity_search`: the highest rate whose
window has p95 <= 300 ms, <= 1 % errors and no timeouts; a failing rate is tried once more),
(3) twice that rate for
``--overload-seconds``, (4) the sync cancelled, the same capacity search with no sync
(:func:`idle_capacity_search`); its last JSON line carries ``capacity_rps``,
``capacity_idle_rps``, ``capacity_ratio_sync_vs_idle``, ``overload_achieved_rps``,
``overload_timeouts``, ``admitted_p95_ms``, ``shed_p95_ms``, ``max_cpu_ratio_vs_floor``, ``goals``
and ``goal_met``. ``--rps N`` runs one window at N req/s instead (issue 8's run: ``--rps 200``).
What follows describes the set-up and one window.

``--topology deployment`` (default) runs MagFlow as ``deploy/`` does, on one machine as it would
on several: a fresh PostgreSQL database (created on the server of ``MAGFLOW_BENCH_DATABASE_URL``,
default ``postgresql://postgres@127.0.0.1:5432/test``, dropped at the end), Redis (bus, cache,
shared rate limiter), ``--apis`` uvicorn API processes (``magflow serve``) on their own ports and
``--workers`` procrastinate workers (``magflow worker``, ``MAGFLOW_JOBS=procrastinate``) that run
the sync, at ``--worker-nice`` (10, as deploy/'s units run them; the simulator too, since it
stands in for eMAG's servers, which are not on the seller's machine), each process in a session of
its own whose autogroup gets the process's nice, as systemd gives each unit a cgroup of its own
(:func:`session_nice`). ``--topology single`` is the
earlier set-up: one API process on SQLite whose in-process job runner runs the sync (Redis
bus/cache when Redis answers). In both, the eMAG simulator runs in its own process with eMAG's
rate limits on.

A full offers sync runs first, then a full orders sync (``--orders`` orders, sized by default to
last beyond the measured window); once it is writing, two generator processes start, so that the
generator is not the bottleneck: one holds ``--clients`` WebSocket clients on
``/ws/sync-progress`` (spread over the APIs), the other sends read requests open-loop (request
``i`` at ``start + i / rps`` whatever the answers, round robin over the APIs, paths drawn from
:data:`READS`) over a pool of keep-alive connections (:class:`RawClient`, a small client on
httptools: a seventh of the CPU of ``httpx.AsyncClient``, which ``--client httpx`` uses).
After ``--warmup`` seconds the ``--seconds`` window is measured: latency counts from each request's
*scheduled* time (so a server that falls behind shows in it, no coordinated omission), errors are
any non-2xx answer, transport error or a request not answered ``--timeout`` seconds after its
scheduled time. Sampled every second: each API's RSS, every process's CPU (APIs, workers,
simulator, PostgreSQL, Redis, the generators, the busiest other processes; PostgreSQL's processes
at a lower priority apart, as ``postgres-niced``: those of the workers' connections, which follow
the workers' nice, ``MAGFLOW_DB_BACKEND_NICE``) and the sync run's state. When the PostgreSQL
server runs without autovacuum (as on the machine of the figures), ``ANALYZE`` runs after the
offers sync, when the orders sync starts and every 30 s while the sync writes, paced as
autovacuum's autoanalyze would be. Memory is *flat* when each API's mean RSS
over the window's last 10 s is within 10 % of its mean over the first 10 s. The last line
printed is a JSON summary.

Tools for finding where the time goes: ``--profile DIR`` records each API process with py-spy
(``pip install py-spy``; on-CPU samples, collapsed stacks) over the window; ``--endpoint-costs N``
replaces the load by N requests of each path of READS alone, one at a time, and prints the API
processes' CPU per request; ``--reads`` restricts the load to some paths of READS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import resource
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

READS = [
    "/api/v1/emag/offers?limit=50",
    "/api/v1/emag/offers?search=a&limit=20",
    "/api/v1/emag/orders?limit=50",
    "/api/v1/emag/orders?status=1&limit=20",
    "/api/v1/admin/emag-customers?limit=50",
    "/api/v1/emag/sync-logs?limit=20",
    "/api/v1/emag/enhanced/status",
    "/api/v1/emag/enhanced/products/sync-progress",
]
WS_PATH = "/api/v1/emag/enhanced/ws/sync-progress"
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: The generator's names for a request not answered in time.
TIMEOUT_KINDS = ("ReadTimeout", "PoolTimeout", "Timeout")
#: The load generators' priority (root only): ahead of everything under test.
GENERATOR_NICE = -10
#: eMAG's order bucket (12 req/s) times 100 orders a page: the fastest a full orders sync can go.
ORDERS_PER_SECOND_CEILING = 1200


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# -- generator process 1: read requests, open loop ----------------------------------------------


class RawConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, responses parsed by httptools (uvicorn's parser)."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bool]] | None = None
        self.closed = False
        self.last_used = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as exc:
            self._fail(exc)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), self.parser.should_keep_alive()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed by the server"))

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RawClient:
    """GETs over a pool of keep-alive connections per server: a fraction of httpx's CPU per
    request, so that on a 2-CPU machine the generator leaves the CPU to the servers.

    Idle connections are reused newest first and dropped after :attr:`max_idle` seconds, before
    uvicorn's keep-alive timeout (5 s) could close one under a request."""

    max_idle = 4.0

    def __init__(self, token: str, connections: int) -> None:
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.connections = connections
        self.idle: dict[tuple[str, int], list[RawConnection]] = {}
        self.open = 0
        self.freed = asyncio.Condition()

    async def _connection(self, host: str, port: int) -> RawConnection:
        loop = asyncio.get_running_loop()
        idle = self.idle.setdefault((host, port), [])
        while True:
            while idle:
                conn = idle.pop()
                if not conn.closed and loop.time() - conn.last_used < self.max_idle:
                    return conn
                conn.close()
                self.open -= 1
            if self.open < self.connections:
                self.open += 1
                try:
                    _, conn = await loop.create_connection(RawConnection, host, port)
                except BaseException:
                    self.open -= 1
                    raise
                return conn
            async with self.freed:
                await self.freed.wait()

    async def _release(self, key: tuple[str, int], conn: RawConnection, keep: bool) -> None:
        if keep and not conn.closed:
            conn.last_used = asyncio.get_running_loop().time()
            self.idle[key].append(conn)
        else:
            conn.close()
            self.open -= 1
        async with self.freed:
            self.freed.notify()

    async def get(self, url: str, deadline: float) -> str:
        """The status code of ``GET url``, or the kind of error; gives up at ``deadline``
        (event-loop time), waiting for a free connection included."""
        rest = url.split("://", 1)[1]
        hostport, path = rest.split("/", 1)
        host, port = hostport.rsplit(":", 1)
        key = (host, int(port))
        try:
            async with asyncio.timeout_at(deadline):
                conn = await self._connection(*key)
        except TimeoutError:
            return "PoolTimeout"
        except OSError as exc:
            return type(exc).__name__
        assert conn.transport is not None
        waiter = conn.waiter = asyncio.get_running_loop().create_future()
        conn.transport.write(
            b"GET /" + path.encode() + b" HTTP/1.1\r\nHost: " + hostport.encode() + b"\r\n"
            + self.auth + b"\r\n"
        )  # fmt: skip
        try:
            async with asyncio.timeout_at(deadline):
                status, keep = await waiter
        except TimeoutError:
            await self._release(key, conn, False)
            return "ReadTimeout"
        except Exception as exc:
            await self._release(key, conn, False)
            return type(exc).__name__
        await self._release(key, conn, keep)
        return str(status)

    def close(self) -> None:
        for conns in self.idle.values():
            for conn in conns:
                conn.close()


async def http_load(config: dict[str, Any]) -> dict[str, Any]:
    urls: list[str] = config["urls"]
    rps: float = config["rps"]
    warmup: float = config["warmup"]
    seconds: float = config["seconds"]
    rng = random.Random(config["seed"])
    total = int((warmup + seconds) * rps)
    reads = [READS[i] for i in config["reads"]]
    plan = [(urls[i % len(urls)] + rng.choice(reads), i / rps) for i in range(total)]
    # due offset, latency (from the due time), finished offset, status or error kind, path
    results: list[tuple[float, float, float, str, str]] = []
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        if config["client"] == "httpx":
            limits = httpx.Limits(
                max_connections=config["connections"],
                max_keepalive_connections=config["connections"],
            )
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    timeout=config["timeout"],
                    limits=limits,
                    headers={"Authorization": f"Bearer {config['token']}"},
                )
            )

            async def fetch(url: str, deadline: float) -> str:
                try:
                    async with asyncio.timeout_at(deadline):
                        return str((await client.get(url)).status_code)
                except TimeoutError:
                    return "Timeout"
                except httpx.HTTPError as exc:
                    return type(exc).__name__
        else:
            raw = RawClient(config["token"], config["connections"])
            stack.callback(raw.close)
            fetch = raw.get
        # Open a few connections before the clock starts (a real client's pool is warm too).
        warm = loop.time() + 30
        await asyncio.gather(*(fetch(url + "/health", warm) for url in urls for _ in range(8)))
        await asyncio.sleep(max(0.0, config["start_at"] - time.time()))
        t0 = loop.time()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        max_lag = 0.0

        async def one(url: str, due: float) -> None:
            path = "/" + url.split("/", 3)[3]
            outcome = await fetch(url, due + config["timeout"])
            now = loop.time()
            results.append((due - t0, now - due, now - t0, outcome, path))

        tasks: set[asyncio.Task[None]] = set()
        for url, offset in plan:
            due = t0 + offset
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            max_lag = max(max_lag, loop.time() - due)
            task = asyncio.create_task(one(url, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = loop.time() - t0

    window = [r for r in results if warmup <= r[0] < warmup + seconds]
    latencies = [r[1] for r in window]
    errors: dict[str, int] = {}
    by_path: dict[str, list[float]] = {}
    for _, latency, _, outcome, path in window:
        if not outcome.startswith("2"):
            errors[outcome] = errors.get(outcome, 0) + 1
        by_path.setdefault(path, []).append(latency)
    ok_in_window = sum(
        1 for r in results if r[3].startswith("2") and warmup <= r[2] < warmup + seconds
    )
    # Admitted: answered 2xx; shed: refused by admission control (503, meant to be instant);
    # timeouts: not answered in time, by the server (ReadTimeout) or for want of a connection.
    admitted = [r[1] for r in window if r[3].startswith("2")]
    shed = [r[1] for r in window if r[3] == "503"]
    timeouts = sum(1 for r in window if r[3] in TIMEOUT_KINDS)
    return {
        "admitted": len(admitted),
        "admitted_p50_ms": ms(percentile(admitted, 50)),
        "admitted_p95_ms": ms(percentile(admitted, 95)),
        "shed": len(shed),
        "shed_p50_ms": ms(percentile(shed, 50)),
        "shed_p95_ms": ms(percentile(shed, 95)),
        "timeouts": timeouts,
        "requests": len(window),
        "requests_all": len(results),
        "rps_offered": round(len(window) / seconds, 1),
        "rps_achieved": round(ok_in_window / seconds, 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "p50_ms": ms(percentile(latencies, 50)),
        "p95_ms": ms(percentile(latencies, 95)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(max(latencies, default=float("nan"))),
        "per_endpoint": {
            path: {
                "n": len(values),
                "p50_ms": ms(percentile(values, 50)),
                "p95_ms": ms(percentile(values, 95)),
            }
            for path, values in sorted(by_path.items())
        },
        "scheduler_max_lag_ms": ms(max_lag),
        "http_generator_cpu_percent": round(
            100 * (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / wall, 1
        ),
    }


# -- generator process 2: WebSocket clients -----------------------------------------------------


async def ws_load(config: dict[str, Any]) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    urls: list[str] = config["urls"]
    token: str = config["token"]
    connected = failed = disconnected = 0
    received = received_window = 0
    fail_kinds: dict[str, int] = {}
    delays: list[float] = []
    sockets: list[Any] = []
    window = [float("inf"), float("inf")]
    stopping = False
    all_tried = asyncio.Event()

    def tried() -> None:
        if connected + failed >= config["clients"]:
            all_tried.set()

    async def client(url: str) -> None:
        nonlocal connected, failed, disconnected, received, received_window
        try:
            ws = await connect(
                url.replace("http", "ws", 1) + f"{WS_PATH}?token={token}",
                open_timeout=60,
                ping_interval=None,
                max_queue=None,
            )
        except Exception as exc:
            failed += 1
            fail_kinds[type(exc).__name__] = fail_kinds.get(type(exc).__name__, 0) + 1
            tried()
            return
        connected += 1
        sockets.append(ws)
        tried()
        try:
            async for message in ws:
                received += 1
                now = time.time()
                if window[0] <= now < window[1]:
                    received_window += 1
                    # One message in 20 measures the delivery delay (event ts → received here).
                    if received_window % 20 == 0:
                        event = json.loads(message)
                        if event.get("type", "").startswith("sync.") and event.get("ts"):
                            sent = _epoch(event["ts"])
                            delays.append(now - sent)
        except Exception as exc:
            fail_kinds[type(exc).__name__] = fail_kinds.get(type(exc).__name__, 0) + 1
        if not stopping:
            disconnected += 1

    tasks = []
    started = time.perf_counter()
    tried()  # no clients: nothing to wait for
    for i in range(config["clients"]):
        tasks.append(asyncio.create_task(client(urls[i % len(urls)])))
        await asyncio.sleep(config["connect_interval"])
    await all_tried.wait()
    connect_seconds = time.perf_counter() - started
    print(json.dumps({"ready": connected, "failed": failed}), flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    window[0], window[1] = (float(x) for x in line.split())
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(max(0.0, window[1] - time.time()))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    still_open = connected - disconnected
    stopping = True
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "ws_clients": config["clients"],
        "ws_connected": connected,
        "ws_failed_to_connect": failed,
        "ws_disconnected": disconnected,
        "ws_open_at_end": still_open,
        "ws_failure_kinds": fail_kinds,
        "ws_connect_seconds": round(connect_seconds, 1),
        "ws_messages_window": received_window,
        "ws_messages_total": received,
        "ws_delivery_p50_ms": ms(percentile(delays, 50)),
        "ws_delivery_p95_ms": ms(percentile(delays, 95)),
        "ws_generator_cpu_percent": round(
            100
            * (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime)
            / max(1e-9, window[1] - window[0]),
            1,
        ),
    }


def _epoch(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts).timestamp()


# -- the floor: the same SQL, run by a minimal ASGI handler -------------------------------------


async def capture_sql(token: str, paths: list[str]) -> dict[str, list[tuple[str, Any]]]:
    """The SQL each path runs in the API, captured by running the app itself in this process
    (same settings, same database) at psycopg's cursor, whichever way it was sent (SQLAlchemy's
    execution, or a kept page statement sent to psycopg directly: ``db.query.fetch_page``): the
    second call's statements (the steady state: caches warm). A path whose steady state runs no
    SQL (the enhanced status, served from the process's copy of the cache: ``Cache.near``) gets a
    floor that runs none either and writes an empty list: what answering costs at all."""
    import psycopg

    from magflow.app import create_app
    from magflow.settings import Settings

    app = create_app(Settings())
    captured: dict[str, list[tuple[str, Any]]] = {}
    statements: list[tuple[str, Any]] = []
    execute = psycopg.AsyncCursor.execute

    async def recording(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        statements.append((query, params))
        return await execute(cursor, query, params, **kwargs)

    psycopg.AsyncCursor.execute = recording  # type: ignore[method-assign]
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
                for path in paths:
                    calls = []
                    for _ in range(2):
                        statements.clear()
                        (await client.get(path, headers=headers)).raise_for_status()
                        calls.append(list(statements))
                    captured[path] = calls[1]
    finally:
        psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]
    return captured


def floor_app(database_url: str, captured: dict[str, list[tuple[str, Any]]]) -> Any:
    """A minimal ASGI app: for a path of READS, run the API's statements for it with psycopg and
    write the rows with orjson. No framework, no validation, no authentication: the floor of what
    an endpoint can cost. Like the API's read-only listings (``common/deps.read_only``), the
    connection is in autocommit: no ``BEGIN``/``ROLLBACK`` around the statements (the API sent
    them too before; the floor did as it did), in UTC and with orjson's JSON loads."""
    import orjson
    import psycopg
    from psycopg.types.json import set_json_loads
    from sqlalchemy.engine import make_url

    conninfo = make_url(database_url).set(drivername="postgresql")
    conninfo_text = conninfo.render_as_string(hide_password=False)
    state: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["conn"] = conn = await psycopg.AsyncConnection.connect(
                        conninfo_text, autocommit=True
                    )
                    # In UTC and with orjson's JSON loads, as the API's connections are
                    # (``db.engine.in_utc``, ``json_deserializer``): the floor is the cheapest
                    # way to read the rows, and psycopg reads a time in UTC at a fraction of its
                    # cost in another zone.
                    await conn.execute("SET TIME ZONE 'UTC'")
                    set_json_loads(orjson.loads, conn)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await state["conn"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        query = scope["query_string"].decode()
        key = scope["path"] + ("?" + query if query else "")
        statements = captured.get(key)
        if statements is None:
            status, body = 404, b'{"detail":"not a path of READS"}'
        else:
            conn = state["conn"]
            results = []
            async with conn.cursor() as cursor:
                for statement, params in statements:
                    await cursor.execute(statement, params)
                    if cursor.description is None:
                        continue
                    names = [column.name for column in cursor.description]
                    results.append(
                        [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]
                    )
            status, body = 200, orjson.dumps(results, default=str)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())
        ]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    return app


def floor_server(config: dict[str, Any]) -> None:
    """``--role floor``: capture the SQL, then serve the floor on ``config["port"]``."""
    import uvicorn

    captured = asyncio.run(capture_sql(config["token"], config["paths"]))
    print(json.dumps({"statements": {p: len(s) for p, s in captured.items()}}), flush=True)
    app = floor_app(os.environ["MAGFLOW_DATABASE_URL"], captured)
    uvicorn.run(app, host="127.0.0.1", port=config["port"], log_config=None, log_level="warning")


# -- the orchestrator: processes, sampling, the report ------------------------------------------


def proc_cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat)


def proc_nice(pid: int) -> int:
    """The nice value of ``pid`` (0 when it is gone)."""
    try:
        return os.getpriority(os.PRIO_PROCESS, pid)
    except OSError:
        return 0


def renice(pid: int, nice: int) -> None:
    """Set the nice of every thread of ``pid`` (Linux's setpriority sets one thread's), and of
    its session's autogroup (:func:`session_nice`)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
    session_nice(pid, nice)


def session_nice(pid: int, nice: int) -> None:
    """Give the session that ``pid`` leads the CPU priority ``nice`` where the kernel schedules
    by autogroup (``db.engine.lower_session_priority`` says why a process's own nice then only
    counts within its session). Every process of the run leads a session of its own
    (:meth:`Processes.start`), as systemd starts each unit of deploy/ in a cgroup of its own:
    without that, the APIs, the workers, the simulator and the generators shared one share of
    the CPU, the same as each PostgreSQL server process had. Root only (a negative nice, or
    another user's); otherwise the run goes on with the session's priority as it is."""
    from magflow.db.engine import autogroups_on

    with contextlib.suppress(OSError):
        if os.getsid(pid) == pid and autogroups_on():
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def proc_cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far, in seconds, to the nanosecond
    (``/proc/<pid>/task/*/schedstat``): the endpoint costs divide a few hundred milliseconds by
    the requests, where ``stat``'s 10 ms ticks would be a tenth of the figure."""
    total = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def all_proc_ticks() -> dict[int, tuple[str, int]]:
    """Every process: (command name, CPU ticks so far)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                comm = stat[stat.index("(") + 1 : stat.rindex(")")]
                fields = stat.rsplit(")", 1)[1].split()
                found[int(entry.name)] = (comm, int(fields[11]) + int(fields[12]))
    return found


def procs_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
    return pids


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, all CPUs."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], total


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def forget_redis_keys(url: str, prefix: str) -> None:
    """Remove what the run left in Redis (its event stream, cache entries, limiter keys)."""
    if not url:
        return
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.unlink(*keys)
    finally:
        client.close()


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except Exception:
        return False


class Processes:
    """The child processes of a run, terminated (then killed) in reverse order at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.named: dict[str, subprocess.Popen[Any]] = {}
        #: The MagFlow processes' environment (the floor server uses it too).
        self.env: dict[str, str] = dict(os.environ)

    def start(self, name: str, argv: list[str], env: dict[str, str], **kw: Any) -> Any:
        """Start ``argv`` as ``name``, in a session of its own (:func:`session_nice`)."""
        log = (self.logs / f"{name}.log").open("wb")
        kw.setdefault("stdout", log)
        process = subprocess.Popen(argv, env=env, stderr=log, start_new_session=True, **kw)
        self.named[name] = process
        return process

    def check_alive(self) -> None:
        for name, process in self.named.items():
            if process.poll() is not None and not name.startswith("gen-"):
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop_all(self) -> None:
        for process in reversed(self.named.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.named.values()):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class RunState:
    """Reads the sync run's state straight from the database (not through the API under test)."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        self.sqlite = url.get_backend_name() == "sqlite"
        if self.sqlite:
            self.conn: Any = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
        else:
            import psycopg

            conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(conninfo, autocommit=True)
        self.autovacuum = self.sqlite or self.conn.execute("SHOW autovacuum").fetchone()[0] == "on"
        self.analyzed = 0
        self.last_analyze = time.monotonic()

    def analyze(self) -> None:
        """``ANALYZE`` when the server's autovacuum is off (as on the machine of the figures):
        the stand-in for its autoanalyze, without which PostgreSQL plans every query of a new
        table as if a filter kept 0.5 % of the rows (a sort of all offers for each page).

        Paced as autovacuum paces its own: ``vacuum_cost_delay`` 2 ms, PostgreSQL's default
        ``autovacuum_vacuum_cost_delay`` (an ``ANALYZE`` typed by hand runs unpaced, and its
        burst of CPU stalled the API processes for long enough to fail a capacity step)."""
        if not self.autovacuum:
            self.conn.execute("SET vacuum_cost_delay = '2ms'")
            self.conn.execute("ANALYZE")
            self.analyzed += 1
        self.last_analyze = time.monotonic()

    def analyze_every(self, seconds: float = 30, *, writing: bool = True) -> None:
        """:meth:`analyze` when the last one is ``seconds`` old: the cadence of autoanalyze on a
        table the sync grows by ~1,200 rows a second, across all the windows of a run. Not when
        nothing is ``writing`` (no sync running): autoanalyze runs only on tables that changed."""
        if writing and time.monotonic() - self.last_analyze >= seconds:
            self.analyze()

    def get(self, run_id: int) -> tuple[str, int]:
        query = "SELECT status, processed_items FROM emag_sync_logs WHERE id = "
        query += "?" if self.sqlite else "%s"
        row = self.conn.execute(query, (run_id,)).fetchone()
        return str(row[0]), int(row[1])

    def close(self) -> None:
        self.conn.close()


def wait_healthy(urls: list[str], processes: Processes, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            processes.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not become healthy")
            time.sleep(0.2)


def wait_run(
    api: httpx.Client, run_id: int, processes: Processes, until: str, timeout: float
) -> dict[str, Any]:
    """Poll the run until it is ``completed`` (until="done") or writing (until="writing")."""
    deadline = time.monotonic() + timeout
    while True:
        processes.check_alive()
        run: dict[str, Any] = api.get(f"/api/v1/emag/sync-logs/{run_id}").json()
        if run["status"] in ("failed", "cancelled", "partial"):
            raise RuntimeError(f"sync run {run_id} ended {run['status']}: {run}")
        if until == "done" and run["status"] == "completed":
            return run
        if until == "writing" and run["processed_items"] > 0:
            return run
        if time.monotonic() > deadline:
            raise RuntimeError(f"sync run {run_id} not {until} after {timeout} s: {run}")
        time.sleep(0.5)


@contextlib.contextmanager
def database(topology: str, var: Path) -> Iterator[str]:
    if topology == "single":
        yield f"sqlite+aiosqlite:///{var}/load.db"
        return
    from _common import fresh_database

    with fresh_database("postgresql") as url:
        yield url


def planned_seconds(args: argparse.Namespace) -> float:
    """How long the measurements last once the orders sync writes (the sync must outlast them)."""
    if args.endpoint_costs:
        return float(5 + len(READS) * 2 * (args.endpoint_costs + 10) * 0.05)
    if args.rps is not None:
        return float(args.warmup + args.seconds)
    costs = 5 + len(READS) * 2 * (args.costs_requests + 10) * 0.05 + 20
    steps = args.max_steps * (args.step_retries + 1) * (args.step_warmup + args.step_seconds + 6)
    return float(costs + steps + args.warmup + args.overload_seconds + 10)


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    from _common import machine

    from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer

    raise_nofile()
    deployment = args.topology == "deployment"
    redis_url = args.redis_url if redis_answers(args.redis_url) else ""
    if deployment and not redis_url:
        raise SystemExit(f"--topology deployment needs Redis at {args.redis_url}")
    apis = args.apis if deployment else 1
    workers = args.workers if deployment else 0
    orders = args.orders or int(ORDERS_PER_SECOND_CEILING * (planned_seconds(args) + 45))
    load_before = loadavg()
    var = Path(tempfile.mkdtemp(prefix="magflow-load-"))
    password = secrets.token_urlsafe(16)
    processes = Processes(var)
    prefix = f"magflow-load-{secrets.token_hex(4)}"
    with contextlib.ExitStack() as stack:
        stack.callback(forget_redis_keys, redis_url, prefix)
        database_url = stack.enter_context(database(args.topology, var))
        env = {
            **os.environ,
            "MAGFLOW_VAR_DIR": str(var),
            "MAGFLOW_DATABASE_URL": database_url,
            "MAGFLOW_SECRET_KEY": secrets.token_urlsafe(32),
            "MAGFLOW_REDIS_URL": redis_url,
            "MAGFLOW_REDIS_PREFIX": prefix,
            "MAGFLOW_SCHEDULES_ENABLED": "false",
            "MAGFLOW_LOGIN_MAX_FAILURES": "1000",
            "MAGFLOW_JOBS": "procrastinate" if deployment else "inprocess",
            "MAGFLOW_MIGRATE_ON_START": "false" if deployment else "true",
            # The WebSocket clients are all one user: lift the per-user cap (20 per process).
            "MAGFLOW_WS_MAX_CONNECTIONS_PER_USER": str(max(20, args.clients + 10)),
        }
        processes.env = env
        magflow = [sys.executable, "-m", "magflow"]
        if not deployment:
            subprocess.run([*magflow, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*magflow, "users", "create", "--email", "load@example.com", "--role", "operator",
             "--password-stdin"],
            input=password + "\n", text=True, env=env, check=True, capture_output=True,
        )  # fmt: skip
        config = SimConfig(
            seed=5, offers=args.offers, orders=orders, history_days=80,
            accounts=[SimAccount(name="load", username="load-seller", password="load-seller-pw")],  # noqa: S106
        )  # fmt: skip
        sim = stack.enter_context(SimulatorServer(config, subprocess=True, own_session=True))
        if args.worker_nice:
            # The simulator stands in for eMAG's servers, which are not on the seller's machine:
            # it yields the CPU as the sync's own processes do, so that its share (which a
            # deployment does not have) weighs on the APIs as little as one machine allows.
            renice(sim.pid, args.worker_nice)
        subprocess.run(
            [*magflow, "accounts", "add", "load", "--platform", "ro", "--type", "main",
             "--username", "load-seller", "--base-url", sim.base_url, "--password-stdin"],
            input="load-seller-pw\n", text=True, env=env, check=True, capture_output=True,
        )  # fmt: skip
        stack.callback(processes.stop_all)
        # As deploy/ runs them (systemd ``Nice=10``, compose ``cpu_shares``): the workers yield
        # the CPU to the APIs when both want it (deploy/README.md, "Giving the API priority").
        niced = ["nice", "-n", str(args.worker_nice)] if args.worker_nice else []
        for i in range(workers):
            worker = processes.start(f"worker-{i}", [*niced, *magflow, "worker"], env)
            session_nice(worker.pid, args.worker_nice)
        urls = []
        for i in range(apis):
            port = free_port()
            processes.start(f"api-{i}", [*magflow, "serve", "--port", str(port)], env)
            urls.append(f"http://127.0.0.1:{port}")
        wait_healthy(urls, processes)
        state = RunState(database_url)
        stack.callback(state.close)
        with httpx.Client(base_url=urls[0], timeout=30) as api:
            login = api.post(
                "/api/v1/auth/login", data={"username": "load@example.com", "password": password}
            )
            token = login.json()["access_token"]
            api.headers["Authorization"] = f"Bearer {token}"
            started = api.post("/api/v1/emag/enhanced/sync/offers", json={"account": "load"})
            wait_run(api, started.json()["runs"][0]["id"], processes, "done", 300)
            state.analyze()
            started = api.post(
                "/api/v1/emag/enhanced/sync/orders", json={"account": "load", "mode": "full"}
            )
            run_id = started.json()["runs"][0]["id"]
            wait_run(api, run_id, processes, "writing", 120)
        state.analyze()
        result = measure(args, processes, urls, token, sim.pid, run_id, state, machine())
    shutil.rmtree(var, ignore_errors=True)  # the processes' logs, kept when the run failed
    return result | {
        "topology": args.topology,
        "apis": apis,
        "workers": workers,
        "orders_in_simulator": orders,
        "loadavg_before": load_before,
    }


def start_floor(processes: Processes, token: str) -> tuple[str, int]:
    """The floor server (``--role floor``) on a port of its own: its URL and pid."""
    port = free_port()
    me = [sys.executable, str(Path(__file__).resolve())]
    config = {"token": token, "paths": READS, "port": port}
    floor = processes.start(
        "floor", [*me, "--role", "floor", "--config", json.dumps(config)], processes.env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        processes.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + READS[0], timeout=2).status_code == 200:
                return url, floor.pid
        if time.monotonic() > deadline:
            raise RuntimeError("the floor server did not start")
        time.sleep(0.2)


def start_profilers(
    directory: Path, pids: dict[str, int], seconds: float | None
) -> list[subprocess.Popen[bytes]]:
    """py-spy recording each of ``pids`` (on-CPU samples with the GIL, collapsed stacks) into
    ``directory/<name>.txt``, for ``seconds`` or until :func:`stop_profilers`."""
    directory.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).parent / "py-spy"
    duration = ["--duration", str(int(seconds))] if seconds is not None else []
    profilers = []
    for name, pid in pids.items():
        output = str(directory / f"{name}.txt")
        argv = [str(py_spy), "record", "--pid", str(pid), *duration, "--rate", "200",
                "--nonblocking", "--gil", "--format", "raw", "-o", output]  # fmt: skip
        profilers.append(
            subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return profilers


def stop_profilers(profilers: list[subprocess.Popen[bytes]], *, wait: bool = False) -> None:
    """Wait for timed recordings (``wait``), or stop open-ended ones (py-spy writes its file on
    SIGINT)."""
    for profiler in profilers:
        if not wait:
            profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=60)


def endpoint_costs(
    n: int,
    processes: Processes,
    urls: list[str],
    token: str,
    api_pids: list[int],
    state: RunState | None = None,
    paths: list[str] = READS,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Each of ``paths`` (READS unless told) alone, while the sync runs: ``n`` requests one at a
    time, round robin over the APIs, each followed by the same request to the floor (the same SQL
    run by a minimal ASGI handler with psycopg, rows written with orjson: see :func:`floor_app`).
    The API processes' CPU per request and the floor's (each minus what it uses without requests
    over the same time, measured first), their ratio, and the latencies.

    Paired, not one window after the other: on a 2-CPU machine the sync's phases change how much
    CPU the same work takes (the other CPU busy or not) by up to 2x from one second to the next,
    so two windows measured apart compare two machines; interleaved, the API and its floor run
    under the same load. CPU time is read to the nanosecond (``schedstat``). PostgreSQL's CPU is
    given per pair (both requests' statements), but the sync's writes make it noisy.

    ``profile``: py-spy records the APIs and the floor over the measured requests (one file each,
    as ``--profile`` does for a window), so that their stacks compare sample for sample."""
    floor_url, floor_pid = start_floor(processes, token)

    def cpu() -> tuple[float, float, float]:
        api = sum(proc_cpu_seconds(pid) for pid in api_pids)
        pg = sum(proc_cpu_seconds(pid) for pid in procs_named("postgres"))
        return api, pg, proc_cpu_seconds(floor_pid)

    api0, pg0, floor0 = cpu()
    time.sleep(5)
    api1, pg1, floor1 = cpu()
    idle_api, idle_pg, idle_floor = (api1 - api0) / 5, (pg1 - pg0) / 5, (floor1 - floor0) / 5

    def timed(client: httpx.Client, url: str, latencies: list[float]) -> int:
        sent = time.perf_counter()
        response = client.get(url).raise_for_status()
        latencies.append(time.perf_counter() - sent)
        return len(response.content)

    costs: dict[str, Any] = {}
    pids = {f"api-{i}": pid for i, pid in enumerate(api_pids)} | {"floor": floor_pid}
    profilers = start_profilers(profile, pids, seconds=None) if profile else []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for path in paths:
            if state is not None:
                state.analyze_every(30)
            for i in range(10):
                client.get(urls[i % len(urls)] + path).raise_for_status()
                client.get(floor_url + path).raise_for_status()
            api_latencies: list[float] = []
            floor_latencies: list[float] = []
            a0, p0, f0 = cpu()
            started = time.perf_counter()
            for i in range(n):
                api_bytes = timed(client, urls[i % len(urls)] + path, api_latencies)
                floor_bytes = timed(client, floor_url + path, floor_latencies)
            elapsed = time.perf_counter() - started
            a1, p1, f1 = cpu()
            api_ms = round(1000 * (a1 - a0 - idle_api * elapsed) / n, 2)
            floor_ms = round(1000 * (f1 - f0 - idle_floor * elapsed) / n, 2)
            costs[path] = {
                "api_cpu_ms": api_ms,
                "floor_cpu_ms": floor_ms,
                "ratio": round(api_ms / max(0.01, floor_ms), 2),
                "pg_cpu_ms_per_pair": round(1000 * (p1 - p0 - idle_pg * elapsed) / n, 2),
                "api_p50_ms": ms(percentile(api_latencies, 50)),
                "floor_p50_ms": ms(percentile(floor_latencies, 50)),
                "api_body_bytes": api_bytes,
                "floor_body_bytes": floor_bytes,
            }
            print(
                f"  {path}: API {api_ms} ms CPU/request, floor {floor_ms} ms, ratio "
                f"{costs[path]['ratio']} (PostgreSQL {costs[path]['pg_cpu_ms_per_pair']} ms per "
                f"pair; p50 {costs[path]['api_p50_ms']} / {costs[path]['floor_p50_ms']} ms; "
                f"{api_bytes} / {floor_bytes} bytes)",
                flush=True,
            )
    stop_profilers(profilers)
    processes.named.pop("floor").terminate()
    return {
        "requests_per_endpoint": n,
        "idle_api_cpu_percent": round(100 * idle_api, 1),
        "idle_pg_cpu_percent": round(100 * idle_pg, 1),
        "endpoints": costs,
        "max_cpu_ratio_vs_floor": max(c["ratio"] for c in costs.values()),
    }


def start_ws(args: argparse.Namespace, processes: Processes, urls: list[str], token: str) -> Any:
    """The WebSocket generator, its clients connected: it then waits for its window."""
    me = [sys.executable, str(Path(__file__).resolve())]
    ws_config = {"urls": urls, "token": token, "clients": args.clients,
                 "connect_interval": args.connect_interval}  # fmt: skip
    ws = processes.start(
        "gen-ws",
        [*me, "--role", "ws", "--config", json.dumps(ws_config)],
        dict(os.environ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    ready = json.loads(ws.stdout.readline() or "{}")
    if "ready" not in ready:
        processes.check_alive()
        raise RuntimeError(f"the WebSocket generator did not start: {ready}")
    return ws


def window(
    args: argparse.Namespace,
    processes: Processes,
    urls: list[str],
    token: str,
    sim_pid: int,
    run_id: int,
    state: RunState,
    *,
    rps: float,
    warmup: float,
    seconds: float,
    ws: Any = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One open-loop window at ``rps``: the HTTP generator's figures, each API's RSS, every
    process's CPU and the sync's progress over the ``seconds`` after ``warmup``. With ``ws`` (the
    WebSocket generator), its window is this one."""
    me = [sys.executable, str(Path(__file__).resolve())]
    refused_before = admission_refusals(urls)
    start_at = time.time() + 1.0
    window_start = start_at + warmup
    window_end = window_start + seconds
    http_config = {
        "urls": urls,
        "token": token,
        "rps": rps,
        "warmup": warmup,
        "seconds": seconds,
        "start_at": start_at,
        "seed": 8,
        "connections": args.connections,
        "timeout": args.timeout,
        "client": args.client,
        "reads": [int(i) for i in args.reads.split(",")] if args.reads else list(range(len(READS))),
    }
    http = processes.start(
        "gen-http",
        [*me, "--role", "http", "--config", json.dumps(http_config)],
        dict(os.environ),
        stdout=subprocess.PIPE,
        text=True,
    )
    if ws is not None:
        ws.stdin.write(f"{window_start} {window_end}\n")
        ws.stdin.flush()

    tracked = {name: p.pid for name, p in processes.named.items()} | {"simulator": sim_pid}
    api_pids = {name: pid for name, pid in tracked.items() if name.startswith("api-")}
    rss: dict[str, list[tuple[float, float]]] = {name: [] for name in api_pids}
    runs: list[tuple[float, str, int]] = []

    def cpu_now() -> dict[str, int]:
        ticks = {name: proc_cpu_ticks(pid) for name, pid in tracked.items()}
        # PostgreSQL's processes at a lower priority serve the workers' connections (their
        # MAGFLOW_DB_BACKEND_NICE follows the workers' nice): the sync's share of PostgreSQL.
        backends = procs_named("postgres")
        niced = {pid for pid in backends if proc_nice(pid) > 0}
        ticks["postgres"] = sum(proc_cpu_ticks(pid) for pid in backends if pid not in niced)
        ticks["postgres-niced"] = sum(proc_cpu_ticks(pid) for pid in niced)
        ticks["redis"] = sum(proc_cpu_ticks(pid) for pid in procs_named("redis-server"))
        ticks["orchestrator"] = proc_cpu_ticks(os.getpid())
        ticks["machine"], ticks["machine_total"] = machine_ticks()
        return ticks

    while time.time() < window_start:
        time.sleep(0.05)
    others_start = all_proc_ticks()
    profilers = start_profilers(profile, api_pids, seconds) if profile else []
    cpu_start = cpu_now()
    next_sample = time.time()
    while (now := time.time()) < window_end:
        for name, pid in api_pids.items():
            rss[name].append((now - window_start, rss_mb(pid)))
        runs.append((now - window_start, *state.get(run_id)))
        processes.check_alive()
        state.analyze_every(30, writing=runs[-1][1] in ("queued", "running"))
        next_sample += 1
        time.sleep(max(0.0, min(next_sample, window_end) - time.time()))
    cpu_end = cpu_now()
    others_end = all_proc_ticks()
    stop_profilers(profilers, wait=True)
    runs.append((time.time() - window_start, *state.get(run_id)))
    http_out, _ = http.communicate(timeout=args.timeout + 60)
    processes.named.pop("gen-http", None)
    http_result = json.loads(http_out.strip().splitlines()[-1])
    # The APIs' own count of their 503s over the warm-up and the window, by reason.
    refused_after = admission_refusals(urls)
    api_refused = {
        reason: count - refused_before.get(reason, 0)
        for reason, count in refused_after.items()
        if count > refused_before.get(reason, 0)
    }

    elapsed = window_end - window_start
    cpu = {
        name: round(100 * (cpu_end[name] - cpu_start.get(name, 0)) / CLK_TCK / elapsed, 1)
        for name in cpu_end
        if name not in ("machine", "machine_total")
    }
    busy = cpu_end["machine"] - cpu_start["machine"]
    total = cpu_end["machine_total"] - cpu_start["machine_total"]
    ncpu = os.cpu_count() or 1
    cpu["machine_busy"] = round(100 * ncpu * busy / max(1, total), 1)
    cpu["other"] = round(
        cpu["machine_busy"] - sum(v for k, v in cpu.items() if k != "machine_busy"), 1
    )
    # What "other" is: the busiest processes that are not part of the run (other jobs on the
    # machine), by command name; the rest of "other" is the kernel (network, interrupts).
    ours = {*tracked.values(), os.getpid(), *procs_named("postgres"), *procs_named("redis-server")}
    others: dict[str, float] = {}
    for pid, (comm, ticks) in others_end.items():
        if pid not in ours:
            used = ticks - others_start.get(pid, (comm, 0))[1]
            others[comm] = others.get(comm, 0) + 100 * used / CLK_TCK / elapsed
    other_top = {k: round(v, 1) for k, v in sorted(others.items(), key=lambda kv: -kv[1])[:6]}
    memory = {}
    for name, samples in rss.items():
        values = [v for _, v in samples]
        span = min(10.0, elapsed / 3)  # 10 s, or a third of a short window
        first = [v for t, v in samples if t < span]
        last = [v for t, v in samples if t >= elapsed - span]
        first_mean = sum(first) / max(1, len(first))
        last_mean = sum(last) / max(1, len(last))
        memory[name] = {
            "first_mb": round(values[0], 1),
            "last_mb": round(values[-1], 1),
            "max_mb": round(max(values), 1),
            "first10s_mean_mb": round(first_mean, 1),
            "last10s_mean_mb": round(last_mean, 1),
            "flat": abs(last_mean - first_mean) <= 0.10 * first_mean,
        }
    return {
        "rps_target": rps,
        "seconds": seconds,
        "warmup": warmup,
        **http_result,
        "api_refused": api_refused,
        "rss": memory,
        "memory_flat": all(m["flat"] for m in memory.values()),
        "cpu_percent_of_one_cpu": cpu,
        "other_processes_cpu_percent": other_top,
        "sync_run": run_id,
        "sync_running_whole_window": all(status == "running" for _, status, _ in runs),
        "sync_status_window_end": runs[-1][1],
        "sync_orders_written_in_window": runs[-1][2] - runs[0][2],
        "sync_orders_per_second": round((runs[-1][2] - runs[0][2]) / elapsed),
        "sync_processed_at_end": runs[-1][2],
        "loadavg_after": loadavg(),
        "analyze_stand_in_runs": state.analyzed,
    }


def collect_ws(ws: Any) -> dict[str, Any]:
    ws_out, _ = ws.communicate(timeout=120)
    result: dict[str, Any] = json.loads(ws_out.strip().splitlines()[-1])
    return result


#: A capacity step passes when its p95 (from the scheduled time) is within this...
CAPACITY_P95_MS = 300.0
#: ...and at most this share of its requests got anything but a 2xx in time.
CAPACITY_MAX_ERROR_SHARE = 0.01


def step_passes(step: dict[str, Any]) -> bool:
    return bool(
        step["p95_ms"] <= CAPACITY_P95_MS
        and step["errors"] <= CAPACITY_MAX_ERROR_SHARE * max(1, step["requests"])
        and step["timeouts"] == 0
    )


def capacity_search(
    run_step: Any, start: float, max_steps: int, retries: int = 0
) -> tuple[float, list[Any]]:
    """The highest rate whose step passes (:func:`step_passes`): the rate doubles from ``start``
    until a step fails, then the interval between the last pass and the first failure is halved
    until it is within 10 % (or ``max_steps`` rates have been tried). 0 when even the lowest rate
    tried failed. A rate that fails is tried again up to ``retries`` times and passes if a retry
    passes: on a machine shared with other jobs one of their bursts fails a short window."""
    low, high, rate = 0.0, float("inf"), start
    steps = []
    for _ in range(max_steps):
        for attempt in range(retries + 1):
            step = run_step(rate)
            passed = step_passes(step)
            steps.append(
                {"rps": rate, "attempt": attempt + 1, "passed": passed}
                | {k: step[k] for k in STEP_KEYS}
            )
            print(
                f"  step {rate:g} req/s (attempt {attempt + 1}): "
                f"{'pass' if passed else 'fail'}; achieved {step['rps_achieved']} req/s, "
                f"p95 {step['p95_ms']} ms, shed {step['shed']}, timeouts {step['timeouts']}, "
                f"errors {step['errors']}; sync {step['sync_orders_per_second']:g} orders/s; "
                f"refused by the APIs, warm-up included: {refusals_text(step['api_refused'])}",
                flush=True,
            )
            if passed:
                break
        if passed:
            low = rate
        else:
            high = rate
        if high == float("inf"):
            rate = low * 2
        elif low == 0:
            rate = round(high / 2)
            if rate < 1:
                break
        else:
            if (high - low) / high <= 0.1:
                break
            rate = round((low + high) / 2)
    return low, steps


STEP_KEYS = ("rps_achieved", "p50_ms", "p95_ms", "admitted_p95_ms", "shed", "shed_p95_ms",
             "timeouts", "errors", "error_kinds", "sync_orders_per_second",
             "api_refused")  # fmt: skip


def idle_capacity_search(
    args: argparse.Namespace,
    processes: Processes,
    urls: list[str],
    token: str,
    run_id: int,
    run_step: Any,
    capacity_with_sync: float,
) -> tuple[float, list[Any]]:
    """The same capacity search with no sync running (issue 18, point 3: the read capacity with a
    full-speed sync is compared to this one, on the same data in the same run). The orders sync is
    cancelled through the API and the search waits until no run is active; it starts from the
    capacity found with the sync (the idle capacity is at least about that), so it takes a few
    steps. The WebSocket clients are gone by then: with no sync there is no progress to send."""
    with httpx.Client(
        base_url=urls[0], timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        api.post(f"/api/v1/emag/enhanced/sync/{run_id}/cancel").raise_for_status()
        deadline = time.monotonic() + 120
        while api.get(f"/api/v1/emag/sync-logs/{run_id}").json()["status"] in (
            "queued",
            "running",
        ):
            processes.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"sync run {run_id} still active 120 s after its cancel")
            time.sleep(0.5)
    time.sleep(3)  # the workers' last writes and the progress events settle
    print("capacity search with no sync running:", flush=True)
    start = max(args.start_rps, capacity_with_sync)
    return capacity_search(run_step, start, args.idle_max_steps, args.step_retries)


def admission_refusals(urls: list[str]) -> dict[str, int]:
    """The APIs' ``magflow_admission_refused_total`` (``/metrics``), summed, by reason
    (``common/admission.py``: queue_full, no_slot_in_time, overloaded on arrival;
    waited_in_vain)."""
    token = os.environ.get("MAGFLOW_METRICS_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    counts: dict[str, int] = {}
    for url in urls:
        response = httpx.get(url + "/metrics", headers=headers, timeout=30)
        response.raise_for_status()  # a refused scrape is not zero refusals
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "magflow_admission_refused_total":
                    reason = sample.labels["reason"]
                    counts[reason] = counts.get(reason, 0) + int(sample.value)
    return counts


def refusals_text(refused: dict[str, int]) -> str:
    """``api_refused`` of a window as text: ``queue_full 3, overloaded 120`` (or ``none``)."""
    return ", ".join(f"{reason} {count}" for reason, count in sorted(refused.items())) or "none"


def goal_run(
    args: argparse.Namespace,
    processes: Processes,
    urls: list[str],
    token: str,
    sim_pid: int,
    run_id: int,
    state: RunState,
    machine_info: dict[str, Any],
) -> dict[str, Any]:
    """The default: endpoint costs against their floor, the capacity search, then ``2 x`` the
    capacity for ``--overload-seconds``, all in the same deployment, the sync running, the
    WebSocket clients connected from the search on (their window is the overload's)."""
    api_pids = [p.pid for name, p in processes.named.items() if name.startswith("api-")]
    print(f"endpoint costs ({args.costs_requests} requests per path, one at a time):", flush=True)
    costs = endpoint_costs(args.costs_requests, processes, urls, token, api_pids, state)
    ws = start_ws(args, processes, urls, token)

    def run_step(rate: float) -> dict[str, Any]:
        return window(args, processes, urls, token, sim_pid, run_id, state,
                      rps=rate, warmup=args.step_warmup, seconds=args.step_seconds)  # fmt: skip

    print("capacity search (p95 <= 300 ms, <= 1 % errors, no timeouts):", flush=True)
    capacity, steps = capacity_search(run_step, args.start_rps, args.max_steps, args.step_retries)
    if capacity <= 0:
        raise RuntimeError(f"no rate passed, down to {steps[-1]['rps']} req/s: {steps}")
    print(f"capacity {capacity:g} req/s; overload at {2 * capacity:g} req/s", flush=True)
    overload = window(args, processes, urls, token, sim_pid, run_id, state,
                      rps=2 * capacity, warmup=args.warmup, seconds=args.overload_seconds,
                      ws=ws, profile=args.profile)  # fmt: skip
    ws_result = collect_ws(ws)
    idle_capacity, idle_steps = idle_capacity_search(
        args, processes, urls, token, run_id, run_step, capacity
    )
    sync_ratio = capacity / idle_capacity if idle_capacity else 0.0
    ratio = overload["rps_achieved"] / capacity
    goals = {
        "throughput_ratio_ge_0.9": ratio >= 0.9,
        "admitted_p95_le_500ms": overload["admitted_p95_ms"] <= 500,
        "shed_p95_le_50ms": overload["shed"] == 0 or overload["shed_p95_ms"] <= 50,
        "no_timeouts": overload["timeouts"] == 0,
        "websockets_receiving": ws_result["ws_disconnected"] == 0
        and (args.clients == 0 or ws_result["ws_messages_window"] > 0),
        "memory_flat": overload["memory_flat"],
        "endpoint_cpu_within_2x_floor": costs["max_cpu_ratio_vs_floor"] <= 2,
        "capacity_with_sync_ge_0.7_of_idle": sync_ratio >= 0.7,
    }
    return {
        "bench": "load",
        "mode": "capacity+overload",
        "machine": machine_info,
        "endpoint_costs": costs,
        "capacity_steps": steps,
        "overload": overload | ws_result,
        "goals": goals,
        "capacity_rps": capacity,
        "capacity_idle_steps": idle_steps,
        "capacity_idle_rps": idle_capacity,
        "capacity_ratio_sync_vs_idle": round(sync_ratio, 3),
        "overload_offered_rps": overload["rps_offered"],
        "overload_achieved_rps": overload["rps_achieved"],
        "overload_throughput_ratio": round(ratio, 3),
        "overload_timeouts": overload["timeouts"],
        "admitted_p95_ms": overload["admitted_p95_ms"],
        "shed_p95_ms": overload["shed_p95_ms"],
        "max_cpu_ratio_vs_floor": costs["max_cpu_ratio_vs_floor"],
        "goal_met": all(goals.values()),
    }


def measure(
    args: argparse.Namespace,
    processes: Processes,
    urls: list[str],
    token: str,
    sim_pid: int,
    run_id: int,
    state: RunState,
    machine_info: dict[str, Any],
) -> dict[str, Any]:
    api_pids = [p.pid for name, p in processes.named.items() if name.startswith("api-")]
    if args.endpoint_costs:
        paths = [READS[i] for i in map(int, args.reads.split(","))] if args.reads else READS
        costs = endpoint_costs(args.endpoint_costs, processes, urls, token, api_pids, state,
                               paths=paths, profile=args.profile)  # fmt: skip
        return {"bench": "load-endpoint-costs", **costs, "loadavg_after": loadavg()}
    if args.rps is None:
        return goal_run(args, processes, urls, token, sim_pid, run_id, state, machine_info)
    ws = start_ws(args, processes, urls, token)
    result = window(args, processes, urls, token, sim_pid, run_id, state, rps=args.rps,
                    warmup=args.warmup, seconds=args.seconds, ws=ws,
                    profile=args.profile)  # fmt: skip
    return {"bench": "load", "mode": "fixed-rate", "machine": machine_info, **result,
            **collect_ws(ws)}  # fmt: skip


def report(result: dict[str, Any]) -> None:
    print(
        f"topology {result['topology']}: {result['apis']} API process(es), "
        f"{result['workers']} worker(s); load average before {result['loadavg_before']}, "
        f"after {result['loadavg_after']}"
    )
    print(
        f"window {result['seconds']} s (after {result['warmup']} s warm-up): "
        f"{result['requests']} requests offered = {result['rps_offered']} req/s "
        f"(target {result['rps_target']}), achieved {result['rps_achieved']} req/s (2xx); "
        f"errors {result['errors']} {result['error_kinds']}; the APIs' refusals (with the "
        f"warm-up): {refusals_text(result['api_refused'])}"
    )
    print(
        f"latency from the scheduled time: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
        f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms"
    )
    for path, figures in result["per_endpoint"].items():
        print(f"  {path}: n={figures['n']} p50 {figures['p50_ms']} ms p95 {figures['p95_ms']} ms")
    print(
        f"WebSocket: {result['ws_connected']}/{result['ws_clients']} connected "
        f"({result['ws_failed_to_connect']} failed, in {result['ws_connect_seconds']} s), "
        f"{result['ws_disconnected']} disconnected, {result['ws_messages_window']} messages in "
        f"the window; delivery p50 {result['ws_delivery_p50_ms']} ms, "
        f"p95 {result['ws_delivery_p95_ms']} ms"
    )
    for name, m in result["rss"].items():
        print(
            f"{name} RSS: first {m['first_mb']} MB, last {m['last_mb']} MB, max {m['max_mb']} MB; "
            f"first 10 s {m['first10s_mean_mb']} MB, last 10 s {m['last10s_mean_mb']} MB: "
            f"{'flat' if m['flat'] else 'NOT flat'}"
        )
    print(
        f"sync run {result['sync_run']}: running the whole window: "
        f"{result['sync_running_whole_window']}; {result['sync_orders_written_in_window']} "
        f"orders written in the window, status {result['sync_status_window_end']} at its end"
        f"; ANALYZE stand-in for autovacuum: {result['analyze_stand_in_runs']} times"
    )
    cpu = result["cpu_percent_of_one_cpu"]
    print(
        "CPU, % of one CPU over the window: "
        + ", ".join(f"{name} {value}" for name, value in cpu.items())
    )
    print(
        "busiest processes not in the run: "
        + ", ".join(
            f"{name} {value}" for name, value in result["other_processes_cpu_percent"].items()
        )
    )
    print(
        f"generators (self-measured): HTTP {result['http_generator_cpu_percent']} % CPU, "
        f"WebSocket {result['ws_generator_cpu_percent']} % CPU; HTTP scheduler max lag "
        f"{result['scheduler_max_lag_ms']} ms"
    )


def report_goal(result: dict[str, Any]) -> None:
    print(
        f"topology {result['topology']}: {result['apis']} API process(es), "
        f"{result['workers']} worker(s); load average before {result['loadavg_before']}"
    )
    over = result["overload"]
    print(
        f"capacity (p95 <= 300 ms): {result['capacity_rps']} req/s; overload at "
        f"{over['rps_target']} req/s for {over['seconds']} s: offered {over['rps_offered']}, "
        f"2xx {over['rps_achieved']} req/s = {result['overload_throughput_ratio']} of capacity; "
        f"admitted {over['admitted']} (p50 {over['admitted_p50_ms']} ms, p95 "
        f"{over['admitted_p95_ms']} ms), shed {over['shed']} (p50 {over['shed_p50_ms']} ms, "
        f"p95 {over['shed_p95_ms']} ms), timeouts {over['timeouts']}, errors "
        f"{over['error_kinds']}; the APIs' refusals (with the warm-up): "
        f"{refusals_text(over['api_refused'])}"
    )
    print(
        f"capacity with no sync (same run, after cancelling it): {result['capacity_idle_rps']} "
        f"req/s; with the sync / without: {result['capacity_ratio_sync_vs_idle']}"
    )
    print(
        f"WebSocket: {over['ws_connected']}/{over['ws_clients']} connected, "
        f"{over['ws_disconnected']} disconnected, {over['ws_messages_window']} messages in the "
        f"overload window (delivery p50 {over['ws_delivery_p50_ms']} ms, p95 "
        f"{over['ws_delivery_p95_ms']} ms)"
    )
    for name, m in over["rss"].items():
        print(
            f"{name} RSS: first 10 s {m['first10s_mean_mb']} MB, last 10 s "
            f"{m['last10s_mean_mb']} MB: {'flat' if m['flat'] else 'NOT flat'}"
        )
    cpu = over["cpu_percent_of_one_cpu"]
    print(
        "CPU in the overload window, % of one CPU: " + ", ".join(f"{k} {v}" for k, v in cpu.items())
    )
    print(
        f"sync running the whole overload window: {over['sync_running_whole_window']}; "
        f"max API CPU / floor: {result['max_cpu_ratio_vs_floor']}; load average after "
        f"{over['loadavg_after']}"
    )
    print(
        "goals: "
        + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in result["goals"].items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", choices=["deployment", "single"], default="deployment")
    parser.add_argument(
        "--rps", type=float, help="one window at this rate instead of the capacity search"
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument(
        "--orders", type=int, default=0, help="orders in the simulator (0: enough for the run)"
    )
    parser.add_argument("--offers", type=int, default=2000)
    parser.add_argument("--apis", type=int, default=2, help="API processes (deployment)")
    parser.add_argument("--workers", type=int, default=2, help="procrastinate workers")
    parser.add_argument("--connections", type=int, default=256, help="HTTP connections")
    parser.add_argument(
        "--timeout", type=float, default=10, help="per request, from its scheduled time, s"
    )
    parser.add_argument("--start-rps", type=float, default=100, help="capacity search: first rate")
    parser.add_argument("--max-steps", type=int, default=9, help="capacity search: most steps")
    parser.add_argument("--step-seconds", type=float, default=12, help="capacity search: window")
    parser.add_argument("--step-warmup", type=float, default=3, help="capacity search: warm-up")
    parser.add_argument(
        "--step-retries", type=int, default=1, help="capacity search: retries of a failing rate"
    )
    parser.add_argument("--overload-seconds", type=float, default=60, help="the 2x window")
    parser.add_argument(
        "--idle-max-steps", type=int, default=6, help="capacity search with no sync: most steps"
    )
    parser.add_argument(
        "--worker-nice", type=int, default=10, help="nice of the workers, as deploy/ (0: none)"
    )
    parser.add_argument(
        "--costs-requests", type=int, default=150, help="endpoint costs of the default run: N"
    )
    parser.add_argument(
        "--client", choices=["raw", "httpx"], default="raw", help="HTTP client of the generator"
    )
    parser.add_argument("--connect-interval", type=float, default=0.003, help="between WS opens")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--reads", default="", help="READS to draw from or cost (default: all), e.g. 2,3"
    )
    parser.add_argument(
        "--endpoint-costs",
        type=int,
        default=0,
        metavar="N",
        help="instead of the load: N requests of each READS path alone, CPU per request",
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy each API process over the window into this dir"
    )
    parser.add_argument("--role", choices=["http", "ws", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "floor":
        floor_server(json.loads(args.config))
        return
    if args.role:
        raise_nofile()
        use_uvloop()
        role = http_load if args.role == "http" else ws_load
        # A generator must not pause: with CPython's default thresholds a full collection walked
        # every result kept so far (tens of thousands of tuples) while due requests piled up,
        # then went out at once, a burst the APIs had to refuse (a 503 at 100 req/s). Its
        # garbage is freed by reference counting; the process ends with the window.
        gc.collect()
        gc.freeze()
        gc.disable()
        # The generators stand for clients on other machines: run ahead of the processes under
        # test, so that a request leaves at its scheduled time rather than when the busy
        # machine gets round to the generator (its lag would count as the server's latency).
        # Root only; otherwise they stay at the default priority (their lag is reported).
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, GENERATOR_NICE)
        session_nice(os.getpid(), GENERATOR_NICE)
        print(json.dumps(asyncio.run(role(json.loads(args.config)))), flush=True)
        return
    result = orchestrate(args)
    if result.get("mode") == "fixed-rate":
        report(result)
    elif result.get("mode") == "capacity+overload":
        report_goal(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
