"""Customers endpoint at 1,000,000 orders / 200,000 customers on PostgreSQL.

    .venv/bin/python bench/customers_endpoint.py [--orders 1000000] [--customers 200000]
        [--requests 200] [--baseline-runs 5]

What it does:
1. Creates a database on the server of ``MAGFLOW_BENCH_DATABASE_URL`` (default
   ``postgresql://postgres@127.0.0.1:5432/test``), migrates it, and fills it server-side with
   ``INSERT ... SELECT generate_series``: the orders (skewed: every customer has one, the rest go
   mostly to a minority), then ``emag_customers`` / ``emag_customer_accounts`` aggregated from
   them — the state the sync engine's deltas reach. ``VACUUM ANALYZE``. Dropped at the end.
2. Runs the app under uvicorn **in a subprocess** and measures, over HTTP with a bearer token,
   ``GET /api/v1/admin/emag-customers?limit=50`` (sort by spend, the default):
   - *warm*: the summary served from the cache (the steady state; it lives 60 s);
   - *cold*: the cache emptied before each request, so the summary's aggregate pass runs every
     time (needs Redis: ``MAGFLOW_BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/0``;
     skipped when it does not answer);
   - a few other queries (loyalty sort, tier filter, name search, account filter, deep page).
3. The ancestor's approach, in the same run and on the same data, straight through psycopg (no
   HTTP, which favours it): aggregate every customer over all of ``emag_orders`` with window
   functions, ``ORDER BY spend DESC LIMIT 50``. Ratio = its p50 / the endpoint's p50.

Goal: endpoint p95 <= 50 ms, ratio >= 20x. Prints figures, then one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _common import add_viewer, app_server, fresh_database, machine, machine_line
from sqlalchemy.engine import make_url

from magflow.settings import Settings

PATH = "/api/v1/admin/emag-customers"
P95_GOAL_MS = 50.0
RATIO_GOAL = 20.0
EMAIL = "bench@example.com"
PASSWORD = "bench password that is long enough"

FILL_ORDERS = """
INSERT INTO emag_orders (
    account_id, emag_id, order_type, status, payment_mode_id, order_date, currency,
    total_with_vat, customer_key, customer_name, raw, last_seen_at, created_at, updated_at
)
SELECT
    CASE WHEN o.fbe THEN %(fbe)s ELSE %(main)s END,
    o.g,
    CASE WHEN o.fbe THEN 2 ELSE 3 END,
    CASE WHEN o.s < 0.08 THEN 0 WHEN o.s < 0.12 THEN 5 WHEN o.s < 0.15 THEN 1
         WHEN o.s < 0.18 THEN 2 WHEN o.s < 0.20 THEN 3 ELSE 4 END,
    CASE WHEN o.p < 0.6 THEN 1 WHEN o.p < 0.7 THEN 2 ELSE 3 END,
    now() - o.age * interval '730 days',
    'RON',
    round((20 + o.v * o.v * 3000)::numeric, 2),
    'ro:id:' || o.c,
    'Customer ' || o.c,
    '{}'::jsonb,
    now(), now(), now()
FROM (
    SELECT g,
           CASE WHEN g <= %(customers)s THEN g
                ELSE 1 + floor(%(customers)s * power(random(), 3))::int END AS c,
           random() < 0.2 AS fbe, random() AS s, random() AS p, random() AS v,
           random() AS age
    FROM generate_series(1, %(orders)s) AS g
) AS o
"""

FILL_CUSTOMERS = """
INSERT INTO emag_customers (
    customer_key, platform, emag_customer_id, name, email_hash, phone, currency, orders_count,
    total_spent, cancelled_count, returned_count, cod_count, main_orders, fbe_orders,
    first_order_at, last_order_at, created_at, updated_at
)
SELECT customer_key, 'ro', substr(customer_key, 7)::bigint, max(customer_name),
       md5(customer_key), '07' || lpad(substr(customer_key, 7), 8, '0'), 'RON', count(*),
       sum(CASE WHEN status IN (0, 5) THEN 0 ELSE total_with_vat END),
       sum(CASE WHEN status = 0 THEN 1 ELSE 0 END), sum(CASE WHEN status = 5 THEN 1 ELSE 0 END),
       sum(CASE WHEN payment_mode_id = 1 THEN 1 ELSE 0 END),
       sum(CASE WHEN order_type = 2 THEN 0 ELSE 1 END),
       sum(CASE WHEN order_type = 2 THEN 1 ELSE 0 END),
       min(order_date), max(order_date), now(), now()
FROM emag_orders GROUP BY customer_key
"""

FILL_LINKS = """
INSERT INTO emag_customer_accounts (customer_id, account_id, orders_count, total_spent)
SELECT c.id, o.account_id, count(*),
       sum(CASE WHEN o.status IN (0, 5) THEN 0 ELSE o.total_with_vat END)
FROM emag_orders o JOIN emag_customers c ON c.customer_key = o.customer_key
GROUP BY c.id, o.account_id
"""

# The ancestor's page: every customer aggregated over all orders with window functions, then
# sorted by spend. (Its mistakes, kept here as the baseline: a full scan and sort of emag_orders
# per request.)
WINDOW_SCAN = """
SELECT * FROM (
    SELECT DISTINCT
        customer_key,
        count(*) OVER w AS orders_count,
        sum(CASE WHEN status IN (0, 5) THEN 0 ELSE total_with_vat END) OVER w AS total_spent,
        sum(CASE WHEN status = 0 THEN 1 ELSE 0 END) OVER w AS cancelled_count,
        sum(CASE WHEN status = 5 THEN 1 ELSE 0 END) OVER w AS returned_count,
        sum(CASE WHEN payment_mode_id = 1 THEN 1 ELSE 0 END) OVER w AS cod_count,
        sum(CASE WHEN order_type = 2 THEN 1 ELSE 0 END) OVER w AS fbe_orders,
        min(order_date) OVER w AS first_order_at,
        max(order_date) OVER w AS last_order_at
    FROM emag_orders
    WHERE customer_key IS NOT NULL
    WINDOW w AS (PARTITION BY customer_key)
) AS per_customer
ORDER BY total_spent DESC
LIMIT 50
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def figures(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 50) * 1000, 2),
        "p95_ms": round(percentile(samples, 95) * 1000, 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
    }


def conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def fill(url: str, orders: int, customers: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")
        ids = {}
        for kind in ("main", "fbe"):
            row = conn.execute(
                "INSERT INTO emag_accounts (name, platform, account_type, username, "
                "password_encrypted, is_active, created_at, updated_at) "
                "VALUES (%s, 'ro', %s, 'bench', %s, true, now(), now()) RETURNING id",
                (f"bench-{kind}", kind, b"not-a-real-token"),
            ).fetchone()
            assert row is not None
            ids[kind] = row[0]
        for name, sql, params in (
            ("orders", FILL_ORDERS, {**ids, "orders": orders, "customers": customers}),
            ("customers", FILL_CUSTOMERS, {}),
            ("customer_accounts", FILL_LINKS, {}),
        ):
            started = time.perf_counter()
            conn.execute(sql, params)  # type: ignore[arg-type]
            timings[name] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        timings["vacuum_analyze"] = round(time.perf_counter() - started, 1)
    return timings


def redis_answers(url: str) -> bool:
    from redis import Redis

    try:
        client = Redis.from_url(url, socket_timeout=1)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def measure(
    client: httpx.Client, params: dict[str, Any], runs: int, before: Callable[[], None] | None
) -> list[float]:
    samples = []
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        response = client.get(PATH, params=params)
        samples.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{params}: HTTP {response.status_code} {response.text[:200]}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--baseline-runs", type=int, default=5)
    args = parser.parse_args()
    print(machine_line())
    redis_url = os.environ.get("MAGFLOW_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    use_redis = redis_answers(redis_url)
    prefix = f"magflow-bench-{secrets.token_hex(4)}"

    with fresh_database("postgresql") as url, tempfile.TemporaryDirectory() as tmp:
        print(f"filling: {args.orders:,} orders, {args.customers:,} customers ...", flush=True)
        fill_timings = fill(url, args.orders, args.customers)
        with psycopg.connect(conninfo(url)) as conn:
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM emag_orders), (SELECT count(*) FROM emag_customers)"
            ).fetchone()
        assert counts is not None
        print(f"filled in {fill_timings} s: {counts[0]:,} orders, {counts[1]:,} customers")
        secret = secrets.token_urlsafe(32)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            var_dir=Path(tmp),
            database_url=url,
            secret_key=secret,
            migrate_on_start=False,
        )
        asyncio.run(add_viewer(settings, EMAIL, PASSWORD))
        env = {
            "MAGFLOW_DATABASE_URL": url,
            "MAGFLOW_VAR_DIR": tmp,
            "MAGFLOW_SECRET_KEY": secret,
            "MAGFLOW_MIGRATE_ON_START": "false",
            "MAGFLOW_SCHEDULES_ENABLED": "false",
            "MAGFLOW_LOG_LEVEL": "WARNING",
            "MAGFLOW_REDIS_URL": redis_url if use_redis else "",
            "MAGFLOW_REDIS_PREFIX": prefix,
        }
        results: dict[str, dict[str, float]] = {}
        with app_server(env) as base, httpx.Client(base_url=base, timeout=60) as client:
            login = client.post(
                "/api/v1/auth/login", data={"username": EMAIL, "password": PASSWORD}
            )
            login.raise_for_status()
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            page = client.get(PATH, params={"limit": 50}).json()
            print(
                f"page: total {page['total']:,}, top spend {page['items'][0]['total_spent']}, "
                f"summary customers {page['summary']['total_customers']:,}"
            )
            measure(client, {"limit": 50}, 10, None)  # warm-up
            results["warm"] = figures(measure(client, {"limit": 50}, args.requests, None))
            if use_redis:
                from redis import Redis

                redis = Redis.from_url(redis_url)

                def empty_cache() -> None:
                    keys = list(redis.scan_iter(f"{prefix}:cache:*"))
                    if keys:
                        redis.unlink(*keys)

                results["cold"] = figures(
                    measure(client, {"limit": 50}, max(20, args.requests // 5), empty_cache)
                )
                redis.close()
            others = {
                "no_summary": {"limit": 50, "with_summary": "false"},
                "sort_loyalty": {"limit": 50, "sort": "loyalty"},
                "tier_platinum": {"limit": 50, "tier": "platinum"},
                "risk_high": {"limit": 50, "risk": "high"},
                "search_name": {"limit": 50, "search": "customer 1234"},
                "account_fbe": {"limit": 50, "account": "bench-fbe"},
                "deep_page": {"limit": 50, "skip": 10_000},
            }
            for name, params in others.items():
                measure(client, params, 2, None)
                results[name] = figures(measure(client, params, 20, None))

        baseline: list[float] = []
        with psycopg.connect(conninfo(url)) as conn:
            for _ in range(args.baseline_runs):
                started = time.perf_counter()
                rows = conn.execute(WINDOW_SCAN).fetchall()
                baseline.append(time.perf_counter() - started)
            assert len(rows) == 50
        results["window_scan"] = figures(baseline)

    for name, value in results.items():
        print(
            f"{name:>14}: p50 {value['p50_ms']:8.2f} ms  p95 {value['p95_ms']:8.2f} ms  "
            f"(n={value['n']:.0f})"
        )
    warm, base_p50 = results["warm"], results["window_scan"]["p50_ms"]
    ratio = round(base_p50 / warm["p50_ms"], 1)
    cold = results.get("cold")
    cold_ratio = round(base_p50 / cold["p50_ms"], 1) if cold else None
    print(
        f"endpoint (warm summary) p95 {warm['p95_ms']:.1f} ms vs goal {P95_GOAL_MS:.0f} ms; "
        f"window scan p50 {base_p50:.0f} ms: {ratio}x faster (goal {RATIO_GOAL:.0f}x)"
    )
    if cold:
        print(
            f"endpoint (summary recomputed every request) p95 {cold['p95_ms']:.1f} ms, "
            f"{cold_ratio}x faster than the window scan"
        )
    print(
        json.dumps(
            {
                "bench": "customers_endpoint",
                "measured": "HTTP GET against the app under uvicorn in a subprocess",
                "orders": int(counts[0]),
                "customers": int(counts[1]),
                "fill_seconds": fill_timings,
                "results": results,
                "p95_ms": warm["p95_ms"],
                "p95_goal_ms": P95_GOAL_MS,
                "ratio": ratio,
                "ratio_cold": cold_ratio,
                "ratio_goal": RATIO_GOAL,
                "cache": "redis" if use_redis else "memory",
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
