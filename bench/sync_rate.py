"""Benchmark: how close a full sync runs to eMAG's rate limits, and whether it earns 429s.

The simulator runs in its own process with eMAG's limits enforced (``rate_limit=True``: fixed
1-second and 1-minute windows per account, like Kong) and the client paces itself (the default
``MAGFLOW_EMAG_RATE_LIMIT=true``). One MAIN account with ``--offers`` offers and ``--orders``
orders created over the last ``--days`` days is synced into a fresh SQLite database: a full
offers run (``vat/read``, ``product_offer/count``, pages of 100) and a full orders run over
``--days`` + 2 days, which the engine reads in windows of at most 30 days (``order/count`` and
pages per window).

For each kind (order routes: 12 req/s allowed; every other route: 3 req/s) it prints:

- achieved rate = the run's ``api_calls`` / the run's wall time (``started_at`` → ``finished_at``,
  everything included: planning, pages, writes, final bookkeeping), over the allowed rate;
- the same from the simulator's side: requests it counted on the bucket's routes (``/_sim/stats``)
  over the same wall time; and its ``rate_limited`` count (429s), which must be 0.

Goal (issue 4): achieved/allowed >= 0.90 for both kinds, zero 429s. The client's limiter keeps a
50 ms margin on every 1-second window, so its ceiling is 1/1.05 = 0.952 of the allowed rate.

By default the two runs go one after the other, each alone on the CPU; ``--together`` runs them
side by side (the buckets are independent, but they share this process and the database).

    .venv/bin/python bench/sync_rate.py [--offers 10000] [--orders 50000] [--days 60] [--together]

Takes minutes by nature: 100 offer pages at 3/s is about 35 s, 500 order pages at 12/s about 45 s.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    RunResult,
    add_sim_account,
    bench_settings,
    fresh_database,
    machine,
    machine_line,
    run_sync,
    sim_stats,
)

from magflow.context import AppContext
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.emag_sim.ratelimit import LIMITS, ORDER, OTHER
from magflow.sync.models import SyncKind

GOAL = 0.90
BUCKET_OF = {SyncKind.offers: OTHER, SyncKind.orders: ORDER}


def allowed(bucket: str) -> float:
    _name, seconds, limit = LIMITS[bucket][0]
    return limit / seconds


async def run_all(
    sim: SimulatorServer, url: str, days: int, together: bool, concurrency: int | None
) -> dict[SyncKind, tuple[RunResult, dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="magflow-bench-var-") as var:
        changes: dict[str, Any] = {"emag_rate_limit": True, "sync_orders_full_days": days + 2}
        if concurrency:
            changes["sync_fetch_concurrency"] = concurrency
        ctx = AppContext.build(bench_settings(url, Path(var), **changes))
        try:
            account = await add_sim_account(ctx, sim, sim.accounts[0])
            out: dict[SyncKind, tuple[RunResult, dict[str, Any]]] = {}
            if together:
                sim_stats(sim, reset=True)
                results = await asyncio.gather(
                    run_sync(ctx, account, SyncKind.offers),
                    run_sync(ctx, account, SyncKind.orders),
                )
                stats = sim_stats(sim)
                out = {SyncKind.offers: (results[0], stats), SyncKind.orders: (results[1], stats)}
            else:
                for kind in (SyncKind.offers, SyncKind.orders):
                    # A fresh second for each bucket; zero the simulator's counters.
                    await asyncio.sleep(1.1)
                    sim_stats(sim, reset=True)
                    result = await run_sync(ctx, account, kind)
                    out[kind] = (result, sim_stats(sim))
            return out
        finally:
            await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=60, help="orders' history (days)")
    parser.add_argument("--together", action="store_true", help="run both kinds side by side")
    parser.add_argument("--concurrency", type=int, default=None, help="sync_fetch_concurrency")
    args = parser.parse_args()
    config = SimConfig(
        seed=4,
        offers=args.offers,
        orders=args.orders,
        history_days=args.days,
        accounts=[SimAccount(name="main", account_type="main")],
        rate_limit=True,
    )
    print(machine_line())
    print(
        f"simulator (own process, eMAG limits on): {args.offers} offers, {args.orders} orders over "
        f"{args.days} days; client pacing on; SQLite; "
        f"{'both runs together' if args.together else 'offers then orders'}"
    )
    with SimulatorServer(config, subprocess=True) as sim, fresh_database("sqlite") as url:
        results = asyncio.run(run_all(sim, url, args.days, args.together, args.concurrency))

    figures: dict[str, Any] = {}
    sim_429s = 0
    ok = True
    for kind, (result, stats) in results.items():
        bucket = BUCKET_OF[kind]
        run = result.run
        limit = allowed(bucket)
        seconds = result.seconds
        rate = run.api_calls / seconds
        sim_requests = sum(stats["buckets"].get(bucket, {}).values())
        sim_rate = sim_requests / seconds
        sim_429s = max(sim_429s, int(stats["rate_limited"]))
        ratio = rate / limit
        ok &= ratio >= GOAL
        figures[kind.value] = {
            "bucket": bucket,
            "items": run.processed_items,
            "pages": run.total_pages,
            "api_calls": run.api_calls,
            "sim_requests": sim_requests,
            "seconds": round(seconds, 2),
            "rate": round(rate, 3),
            "allowed": limit,
            "ratio": round(ratio, 3),
            "sim_ratio": round(sim_rate / limit, 3),
            "client_429s": run.rate_limited,
            "retries": run.retries,
            "sim_routes": stats["buckets"].get(bucket, {}),
        }
        print(
            f"{kind.value:<6} ({bucket} routes, {limit:.0f} req/s allowed): "
            f"{run.processed_items} items, {run.total_pages} pages, {run.api_calls} API calls "
            f"in {seconds:.2f} s = {rate:.2f} req/s = {ratio:.3f} of allowed "
            f"(simulator counted {sim_requests}: {sim_rate / limit:.3f}); "
            f"429s client {run.rate_limited}, retries {run.retries}"
        )
        print(f"       simulator routes: {stats['buckets'].get(bucket, {})}")
    print(f"simulator rate_limited (429s): {sim_429s}")
    ok &= sim_429s == 0
    print(f"goal >= {GOAL} of allowed and zero 429s: {'MET' if ok else 'MISSED'}")
    print(
        json.dumps(
            {
                "bench": "sync_rate",
                "offers": args.offers,
                "orders": args.orders,
                "together": args.together,
                "order_ratio": figures["orders"]["ratio"],
                "other_ratio": figures["offers"]["ratio"],
                "order_sim_ratio": figures["orders"]["sim_ratio"],
                "other_sim_ratio": figures["offers"]["sim_ratio"],
                "429s": max(
                    sim_429s, figures["orders"]["client_429s"], figures["offers"]["client_429s"]
                ),
                "order_seconds": figures["orders"]["seconds"],
                "other_seconds": figures["offers"]["seconds"],
                "goal_met": ok,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
