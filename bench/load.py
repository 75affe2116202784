"""Load: a steady rate of read requests mixed with many WebSocket clients while a sync runs.

    .venv/bin/python bench/load.py [--rps 200] [--clients 1000] [--seconds 60]
                                   [--orders 60000] [--redis-url URL]

The app runs under uvicorn in its own process (SQLite, and the Redis bus/cache when --redis-url is
given or Redis answers on the default URL), the eMAG simulator in another (eMAG's limits on); this
process logs in, starts a full orders sync, connects the WebSocket clients to
``/ws/sync-progress`` and sends read requests open-loop at ``--rps`` (listings of offers, orders,
customers and sync logs, the enhanced status, the progress endpoint) for ``--seconds``. It reports
the error rate (any non-2xx or transport error), latency percentiles, WebSocket messages and
disconnects, and the API process's RSS over the run. Goal: 0 errors, memory flat. The last line
printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer

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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except Exception:
        return False


async def run(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.clients * 2 + 512)), hard))
    var = Path(tempfile.mkdtemp(prefix="magflow-load-"))
    password = secrets.token_urlsafe(16)
    redis_url = args.redis_url if redis_answers(args.redis_url) else ""
    env = {
        **os.environ,
        "MAGFLOW_VAR_DIR": str(var),
        "MAGFLOW_DATABASE_URL": f"sqlite:///{var}/load.db",
        "MAGFLOW_SECRET_KEY": secrets.token_urlsafe(32),
        "MAGFLOW_REDIS_URL": redis_url,
        "MAGFLOW_REDIS_PREFIX": f"magflow-load-{secrets.token_hex(4)}",
        "MAGFLOW_SCHEDULES_ENABLED": "false",
        "MAGFLOW_LOGIN_MAX_FAILURES": "1000",
    }
    magflow = [sys.executable, "-m", "magflow"]
    subprocess.run(
        [*magflow, "users", "create", "--email", "load@example.com", "--role", "operator",
         "--password-stdin"],
        input=password + "\n", text=True, env=env, check=True, capture_output=True,
    )  # fmt: skip
    config = SimConfig(
        seed=5, offers=2000, orders=args.orders, history_days=80,
        accounts=[SimAccount(name="load", username="load-seller", password="load-seller-pw")],  # noqa: S106
    )  # fmt: skip
    with SimulatorServer(config, subprocess=True) as sim:
        subprocess.run(
            [*magflow, "accounts", "add", "load", "--platform", "ro", "--type", "main",
             "--username", "load-seller", "--base-url", sim.base_url, "--password-stdin"],
            input="load-seller-pw\n", text=True, env=env, check=True, capture_output=True,
        )  # fmt: skip
        port = free_port()
        api = subprocess.Popen(
            [*magflow, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(
                base_url=base, timeout=30, limits=httpx.Limits(max_connections=100)
            ) as client:
                for _ in range(300):
                    try:
                        if (await client.get("/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
                login = await client.post(
                    "/api/v1/auth/login",
                    data={"username": "load@example.com", "password": password},
                )
                token = login.json()["access_token"]
                client.headers["Authorization"] = f"Bearer {token}"
                await client.post("/api/v1/emag/enhanced/sync/offers", json={})
                await client.post(
                    "/api/v1/emag/enhanced/sync/orders", json={"account": "load", "mode": "full"}
                )
                return await load(client, base, token, api.pid, args)
        finally:
            api.terminate()
            api.wait(timeout=30)


async def load(
    client: httpx.AsyncClient, base: str, token: str, pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    ws_url = base.replace("http", "ws") + f"/api/v1/emag/enhanced/ws/sync-progress?token={token}"
    received = 0
    closed = 0
    stop = asyncio.Event()

    async def ws_client() -> None:
        nonlocal received, closed
        try:
            async with connect(ws_url, open_timeout=60, ping_interval=None) as ws:
                while not stop.is_set():
                    try:
                        await asyncio.wait_for(ws.recv(), timeout=1)
                        received += 1
                    except TimeoutError:
                        continue
        except Exception:
            closed += 1

    sockets = []
    for _ in range(args.clients):
        sockets.append(asyncio.create_task(ws_client()))
        await asyncio.sleep(0.002)
    await asyncio.sleep(2)

    latencies: list[float] = []
    errors: dict[str, int] = {}
    rss: list[float] = [rss_mb(pid)]
    in_flight: set[asyncio.Task[None]] = set()

    async def one(path: str) -> None:
        started = time.perf_counter()
        try:
            response = await client.get(path)
            if response.status_code >= 300:
                errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        latencies.append(time.perf_counter() - started)

    start = time.perf_counter()
    sent = 0
    next_sample = start + 1
    while (now := time.perf_counter()) - start < args.seconds:
        due = int((now - start) * args.rps)
        while sent < due:
            task = asyncio.create_task(one(random.choice(READS)))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            sent += 1
        if now >= next_sample:
            rss.append(rss_mb(pid))
            next_sample += 1
        await asyncio.sleep(0.002)
    await asyncio.gather(*in_flight)
    elapsed = time.perf_counter() - start
    stop.set()
    await asyncio.gather(*sockets)
    run = (await client.get("/api/v1/emag/sync-logs?kind=orders&limit=1")).json()["items"][0]
    requests = len(latencies)
    return {
        "bench": "load",
        "rps_target": args.rps,
        "rps_achieved": round(requests / elapsed, 1),
        "seconds": round(elapsed, 1),
        "requests": requests,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "error_rate": round(sum(errors.values()) / max(1, requests), 5),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "ws_clients": args.clients,
        "ws_messages": received,
        "ws_dropped_connections": closed,
        "sync_status_at_end": run["status"],
        "sync_processed": run["processed_items"],
        "rss_start_mb": round(rss[0], 1),
        "rss_end_mb": round(rss[-1], 1),
        "rss_max_mb": round(max(rss), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rps", type=int, default=200)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--orders", type=int, default=60000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(
        f"{result['requests']} requests in {result['seconds']} s = {result['rps_achieved']} req/s "
        f"(target {args.rps}); errors {result['errors']} {result['error_kinds']}; "
        f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms"
    )
    print(
        f"{args.clients} WebSocket clients: {result['ws_messages']} messages, "
        f"{result['ws_dropped_connections']} dropped connections; sync "
        f"{result['sync_status_at_end']} ({result['sync_processed']} orders) at the end"
    )
    print(
        f"API RSS: {result['rss_start_mb']} MB at start, {result['rss_end_mb']} MB at the end, "
        f"max {result['rss_max_mb']} MB"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
