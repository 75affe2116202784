"""An authenticated request's latency while the server is flooded with logins.

    .venv/bin/python bench/login_flood.py [--logins 200] [--seconds 10] [--backend sqlite]

What it does: migrates a fresh database (SQLite file, or PostgreSQL on
``MAGFLOW_BENCH_DATABASE_URL``), creates a user, starts the app with ``magflow serve`` **in a
subprocess** (its own event loop and GIL, as in production), then:

1. *baseline*: ``GET /api/v1/auth/me`` with a valid token, one request at a time, 50 times;
2. *flood*: ``--logins`` clients each send logins back to back for ``--seconds`` (wrong
   passwords for distinct unknown emails: every one costs an argon2 verification unless shed),
   while one probe sends ``GET /api/v1/auth/me`` one at a time and times each answer.

Before issue 14 argon2 ran on the event loop: 150 parallel logins took /auth/me from 57 ms to
30 s. Now verifications run in a bounded thread pool and the excess is answered 429 at once.

Goal: p95 of /auth/me during the flood <= 200 ms, and no 5xx (a 503 with Retry-After, the admission
control's shed answer, counts as shed, like a 429). Prints figures, then one line of JSON with
``goal_met``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from _common import add_viewer, free_port, fresh_database, machine, machine_line

from magflow.settings import Settings

EMAIL = "bench@example.com"
PASSWORD = secrets.token_urlsafe(18)
GOAL_P95_MS = 200.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _flood(base: str, logins: int, seconds: float) -> dict[str, int]:
    """``logins`` clients sending wrong logins back to back for ``seconds``; answers by code."""
    limits = httpx.Limits(max_connections=logins + 10, max_keepalive_connections=logins + 10)
    codes: Counter[str] = Counter()
    stop = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

        async def worker(index: int) -> None:
            n = 0
            while time.monotonic() < stop:
                n += 1
                try:
                    answer = await client.post(
                        "/api/v1/auth/login",
                        data={"username": f"flood{index}-{n}@example.com", "password": "wrong-pw"},
                    )
                except httpx.TransportError as exc:  # counted, like an HTTP status
                    codes[type(exc).__name__] += 1
                    continue
                shed = answer.status_code == 503 and "retry-after" in answer.headers
                # A 503 with Retry-After is the admission control's shed answer (common.admission),
                # like the login gate's 429: an overload answered at once, not a server error.
                codes["503 shed" if shed else str(answer.status_code)] += 1
                if answer.status_code == 429 or shed:  # an impatient client: a tenth of Retry-After
                    await asyncio.sleep(float(answer.headers.get("retry-after", "1")) / 10)

        await asyncio.gather(*(worker(i) for i in range(logins)))
    return dict(codes)


def _flood_process(base: str, logins: int, seconds: float, out: Any) -> None:
    out.put(asyncio.run(_flood(base, logins, seconds)))


async def _measure(base: str, logins: int, seconds: float) -> dict[str, Any]:
    """The flood runs in a process of its own, so that its client-side work does not delay the
    probe's requests here (which would be counted as server latency)."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as probe:
        response = await probe.post(
            "/api/v1/auth/login", data={"username": EMAIL, "password": PASSWORD}
        )
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

        async def me() -> float:
            started = time.perf_counter()
            answer = await probe.get("/api/v1/auth/me", headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                raise RuntimeError(f"/auth/me answered {answer.status_code}: {answer.text}")
            return elapsed

        baseline = [await me() for _ in range(50)]
        out: multiprocessing.Queue[dict[str, int]] = multiprocessing.Queue()
        flood = multiprocessing.Process(target=_flood_process, args=(base, logins, seconds, out))
        flood.start()
        await asyncio.sleep(1.0)  # let the flood build up
        stop = time.monotonic() + seconds - 1.5
        during: list[float] = []
        failures: Counter[str] = Counter()
        while time.monotonic() < stop:
            try:
                during.append(await me())
            except httpx.TransportError as exc:
                failures[f"probe {type(exc).__name__}"] += 1
            await asyncio.sleep(0.02)
        codes = await asyncio.to_thread(out.get)
        flood.join()
    return {"baseline": baseline, "during": during, "codes": {**codes, **failures}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--logins", type=int, default=200, help="parallel login clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the flood")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    print(machine_line())

    with fresh_database(args.backend) as url, tempfile.TemporaryDirectory() as tmp:
        secret = secrets.token_urlsafe(48)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            var_dir=Path(tmp),
            database_url=url,
            secret_key=secret,
            migrate_on_start=False,
            schedules_enabled=False,
        )
        asyncio.run(add_viewer(settings, EMAIL, PASSWORD))
        port = free_port()
        env = {
            **os.environ,
            "MAGFLOW_DATABASE_URL": url,
            "MAGFLOW_SECRET_KEY": secret,
            "MAGFLOW_VAR_DIR": tmp,
            "MAGFLOW_MIGRATE_ON_START": "false",
            "MAGFLOW_SCHEDULES_ENABLED": "false",
            "MAGFLOW_LOG_LEVEL": "WARNING",
        }
        env.pop("MAGFLOW_REDIS_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "magflow", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("BENCH_SERVER_LOG") else subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            result = asyncio.run(_measure(base, args.logins, args.seconds))
        except BaseException:
            print(f"server exit code: {server.poll()}", file=sys.stderr)
            raise
        finally:
            server.terminate()
            server.wait(timeout=30)

    baseline, during, codes = result["baseline"], result["during"], result["codes"]
    p95 = _percentile(during, 0.95)
    server_errors = sum(n for code, n in codes.items() if code.isdigit() and int(code) >= 500)
    print(
        f"baseline /auth/me: p50 {statistics.median(baseline):.1f} ms, "
        f"p95 {_percentile(baseline, 0.95):.1f} ms"
    )
    print(
        f"during {args.logins} parallel logins for {args.seconds:g} s: /auth/me p50 "
        f"{statistics.median(during):.1f} ms, p95 {p95:.1f} ms, max {max(during):.1f} ms "
        f"({len(during)} probes)"
    )
    print(f"login answers: {codes}; 5xx: {server_errors}")
    goal_met = p95 <= GOAL_P95_MS and server_errors == 0
    print(
        json.dumps(
            {
                "bench": "login_flood",
                "backend": args.backend,
                "logins": args.logins,
                "seconds": args.seconds,
                "me_p50_ms": round(statistics.median(during), 1),
                "me_p95_ms": round(p95, 1),
                "me_baseline_p95_ms": round(_percentile(baseline, 0.95), 1),
                "login_answers": {str(k): v for k, v in codes.items()},
                "server_errors": server_errors,
                "goal": f"p95 of /auth/me <= {GOAL_P95_MS:g} ms under {args.logins} logins, no 5xx",
                "goal_met": goal_met,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
