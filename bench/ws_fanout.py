"""WebSocket fan-out: 1,000 clients on ``/ws/sync-events``, N progress events, delivery latency.

    .venv/bin/python bench/ws_fanout.py [--clients 1000] [--events 50] [--interval 0.1]
                                        [--bus redis|memory] [--redis-url URL]

``--bus redis`` (the default when Redis answers): the app runs under uvicorn in a subprocess
with the Redis bus, and this process publishes to Redis as a worker would, so the path measured
is worker -> Redis stream -> API process reader -> hub -> 1,000 sockets.
``--bus memory``: the app runs in a thread of this process with the in-process bus (then clients
and server share one interpreter, and one core, which makes latency worse, not better).

Each event carries its wall-clock send time; each client records ``receive time - send time``.
The clients all live in this process, so their own parsing time is part of the figure: a real
browser has a core of its own. Goal: p99 <= 100 ms, nothing dropped. The last line printed is a
JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

BENCH_RUN_ID = 900_000


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def untune_gc() -> None:
    """Undo create_app's ``tune_gc()``: CPython's default thresholds, nothing frozen."""
    import gc

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)


def serve(port: int, default_gc: bool) -> None:
    """``--serve``: the API process (settings from the environment). create_app's lifespan starts
    the hub on the configured bus and tunes the garbage collector; ``--default-gc`` undoes that."""
    from contextlib import asynccontextmanager

    import uvicorn

    from magflow.app import SERVER_OPTIONS, create_app
    from magflow.settings import Settings

    app = create_app(Settings())
    if default_gc:
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(app_: Any) -> Any:
            async with inner(app_) as state:
                untune_gc()
                yield state

        app.router.lifespan_context = lifespan
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", backlog=4096, **SERVER_OPTIONS
    )


async def prepare(var_dir: Path, secret: str) -> tuple[str, str]:
    """A migrated SQLite database with one viewer; returns (database URL, access token)."""
    from magflow.auth import service
    from magflow.auth.models import Role
    from magflow.context import AppContext
    from magflow.db.migrate import upgrade
    from magflow.settings import Settings

    url = f"sqlite+aiosqlite:///{var_dir / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=var_dir,
        database_url=url,
        secret_key=secret,
    )
    ctx = AppContext.build(settings)
    try:
        async with ctx.db.session() as session:
            user = await service.create_user(
                session, "bench@example.com", "bench password long enough", Role.viewer
            )
            await session.commit()
            token = ctx.tokens.issue(user.id, "access", user.token_version)
    finally:
        await ctx.close()
    return url, token


class Client:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.by_seq: dict[int, float] = {}
        self.seqs: set[int] = set()
        self.ready = asyncio.Event()
        self.done = asyncio.Event()


async def run_client(url: str, client: Client, connected: asyncio.Semaphore) -> None:
    from websockets.asyncio.client import connect

    async with connected:
        ws = await connect(url, proxy=None, compression=None, open_timeout=60, max_queue=None)
    async with ws:
        async for raw in ws:
            received = time.time()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "hello":
                client.ready.set()
            elif kind == "sync.progress":
                data = message["data"]
                client.latencies.append((received - data["sent_at"]) * 1000)
                client.by_seq[data["seq"]] = client.latencies[-1]
                client.seqs.add(data["seq"])
            elif kind == "sync.completed" and message.get("run_id") == BENCH_RUN_ID:
                client.done.set()
                return


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from magflow.realtime.bus import EventBus, RedisEventBus
    from magflow.realtime.events import make_event

    fd_limit = raise_fd_limit(args.clients * 2 + 256)
    var_dir = Path(tempfile.mkdtemp(prefix="magflow-bench-"))
    secret = secrets.token_urlsafe(32)
    database_url, token = await prepare(var_dir, secret)
    prefix = f"magflow-bench-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        **os.environ,
        "MAGFLOW_VAR_DIR": str(var_dir),
        "MAGFLOW_DATABASE_URL": database_url,
        "MAGFLOW_SECRET_KEY": secret,
        "MAGFLOW_REDIS_PREFIX": prefix,
        "MAGFLOW_MIGRATE_ON_START": "false",
        "MAGFLOW_SCHEDULES_ENABLED": "false",
        "MAGFLOW_LOG_LEVEL": "WARNING",
        # All the clients are one user: lift the per-user cap on open WebSockets (20).
        "MAGFLOW_WS_MAX_CONNECTIONS_PER_USER": str(args.clients + 10),
    }
    server: subprocess.Popen[bytes] | None = None
    thread_loop: list[asyncio.AbstractEventLoop] = []
    publish_bus: EventBus
    if args.bus == "redis":
        env["MAGFLOW_REDIS_URL"] = args.redis_url
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port)]
            + (["--default-gc"] if args.default_gc else []),
            env=env,
            cwd=Path.cwd(),
        )
        publish_bus = RedisEventBus.from_url(args.redis_url, prefix=prefix)
    else:
        publish_bus = start_thread_server(port, env, thread_loop)
    try:
        await wait_until_up(port, server)
        url = f"ws://127.0.0.1:{port}/api/v1/emag/enhanced/ws/sync-events?token={token}"
        clients = [Client() for _ in range(args.clients)]
        started = time.perf_counter()
        connected = asyncio.Semaphore(64)
        tasks = [asyncio.create_task(run_client(url, c, connected)) for c in clients]
        async with asyncio.timeout(180):
            await asyncio.gather(*(c.ready.wait() for c in clients))
        connect_seconds = time.perf_counter() - started
        print(f"{args.clients} clients connected and authenticated in {connect_seconds:.1f} s")

        async def publish(type_: str, **kwargs: Any) -> None:
            event = make_event(type_, **kwargs)
            if thread_loop:
                future = asyncio.run_coroutine_threadsafe(
                    publish_bus.publish(event), thread_loop[0]
                )
                await asyncio.wrap_future(future)
            else:
                await publish_bus.publish(event)

        for seq in range(args.events):
            await publish(
                "sync.progress",
                run_id=BENCH_RUN_ID + 1 + seq,  # one run each: nothing may be coalesced away
                account_id=1,
                data={"seq": seq, "sent_at": time.time(), "percentage": 100 * seq / args.events},
            )
            await asyncio.sleep(args.interval)
        await publish("sync.completed", run_id=BENCH_RUN_ID, account_id=1)
        try:
            async with asyncio.timeout(60):
                await asyncio.gather(*(c.done.wait() for c in clients))
        except TimeoutError:
            print("some clients did not see the final event within 60 s")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await publish_bus.aclose() if not thread_loop else None
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if args.bus == "redis":
            from redis.asyncio import Redis

            async with Redis.from_url(args.redis_url) as redis:
                await redis.delete(f"{prefix}:events")

    latencies = [lat for c in clients for lat in c.latencies]
    if args.per_event:
        print("event  min_ms  p50_ms  max_ms  (over clients: max - min is the fan-out time)")
        for seq in range(args.events):
            lats = [c.by_seq[seq] for c in clients if seq in c.by_seq]
            if lats:
                print(f"{seq:5d} {min(lats):7.1f} {percentile(lats, 50):7.1f} {max(lats):7.1f}")
    expected = args.clients * args.events
    received = sum(len(c.seqs) for c in clients)
    return {
        "bench": "ws_fanout",
        "bus": args.bus,
        "clients": args.clients,
        "events": args.events,
        "interval_ms": round(args.interval * 1000),
        # create_app's lifespan tunes the GC; --default-gc undoes it in the --bus redis server.
        "gc_tuned": not (args.bus == "redis" and args.default_gc),
        "deliveries": received,
        "dropped": expected - received,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p90_ms": round(percentile(latencies, 90), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
        "connect_s": round(connect_seconds, 2),
        "fd_limit": fd_limit,
        "cpus": os.cpu_count(),
    }


def start_thread_server(
    port: int, env: dict[str, str], loops: list[asyncio.AbstractEventLoop]
) -> Any:
    """The app in a thread of this process, with the in-process bus; returns that bus."""
    from contextlib import asynccontextmanager

    import uvicorn

    from magflow.app import SERVER_OPTIONS, create_app
    from magflow.settings import Settings

    os.environ.update(env)
    settings = Settings(_env_file=None, redis_url=None)  # type: ignore[call-arg]
    app = create_app(settings)  # its lifespan starts the hub on the in-process bus
    inner = app.router.lifespan_context
    ready = threading.Event()

    @asynccontextmanager
    async def lifespan(app_: Any) -> Any:
        async with inner(app_) as state:
            loops.append(asyncio.get_running_loop())
            ready.set()
            yield state

    app.router.lifespan_context = lifespan
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", backlog=4096, **SERVER_OPTIONS
    )
    threading.Thread(target=uvicorn.Server(config).run, daemon=True).start()
    if not ready.wait(60):
        raise RuntimeError("server did not start")
    return app.state.hub.bus


async def wait_until_up(port: int, server: subprocess.Popen[bytes] | None) -> None:
    import httpx

    async with httpx.AsyncClient(trust_env=False) as http, asyncio.timeout(60):
        while True:
            if server is not None and server.poll() is not None:
                raise RuntimeError(f"server exited with {server.returncode}")
            try:
                if (await http.get(f"http://127.0.0.1:{port}/health")).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between events")
    parser.add_argument("--bus", choices=["redis", "memory"], default=None)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("MAGFLOW_TEST_REDIS_URL")
        or os.environ.get("MAGFLOW_REDIS_URL")
        or "redis://127.0.0.1:6379/0",
    )
    parser.add_argument("--per-event", action="store_true", help="print each event's spread")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="--bus redis: API process with CPython's default GC (create_app tunes it)",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.default_gc)
        return
    if args.bus is None:
        args.bus = "redis" if redis_answers(args.redis_url) else "memory"
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(bench(args))
    print(
        f"{result['deliveries']}/{args.clients * args.events} deliveries, "
        f"dropped {result['dropped']}; latency ms p50 {result['p50_ms']} p90 {result['p90_ms']} "
        f"p99 {result['p99_ms']} max {result['max_ms']} (goal p99 <= 100)"
    )
    print(json.dumps(result))


def redis_answers(url: str) -> bool:
    try:
        from redis import Redis

        with Redis.from_url(url, socket_connect_timeout=1) as redis:
            return bool(redis.ping())
    except Exception:
        return False


if __name__ == "__main__":
    main()
