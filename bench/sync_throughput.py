"""Benchmark: end-to-end sync throughput (items/s), eMAG limits off, into SQLite and PostgreSQL.

The simulator runs in its own process with its rate limits off (``rate_limit=False``) and the
client's pacing is off too (``MAGFLOW_EMAG_RATE_LIMIT=false``), so the figure is what the engine,
the client, the mapping and the database can do: a full offers sync and a full orders sync of one
MAIN account, each into a fresh database, for every backend and every ``sync_fetch_concurrency``
asked for. Items/s = the run's ``processed_items`` over its own duration (``started_at`` →
``finished_at``: plan with ``count``, pages, final bookkeeping).

PostgreSQL: a database is created for each run on the server of ``MAGFLOW_BENCH_DATABASE_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``) and dropped afterwards.

Goals (issue 4, PostgreSQL, 2 cores): >= 5,000 offers/s and >= 3,000 orders/s.

    .venv/bin/python bench/sync_throughput.py [--offers 30000] [--orders 30000]
        [--backends sqlite,postgresql] [--concurrency 4,8] [--profile DIR]

``--profile DIR`` writes a cProfile of each run (``DIR/<backend>-c<N>-<kind>.prof``) and prints
its top functions. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    add_sim_account,
    bench_settings,
    fresh_database,
    machine,
    machine_line,
    run_sync,
)

from magflow.context import AppContext
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.sync.models import SyncKind

OFFERS_GOAL = 5000.0
ORDERS_GOAL = 3000.0
HISTORY_DAYS = 60


async def one_backend(
    sim: SimulatorServer,
    url: str,
    concurrency: int,
    kinds: list[SyncKind],
    profile_prefix: Path | None,
) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="magflow-bench-var-") as var:
        settings = bench_settings(
            url,
            Path(var),
            emag_rate_limit=False,
            sync_fetch_concurrency=concurrency,
            sync_orders_full_days=HISTORY_DAYS + 2,
        )
        ctx = AppContext.build(settings)
        try:
            account = await add_sim_account(ctx, sim, sim.accounts[0])
            figures: dict[str, dict[str, Any]] = {}
            for kind in kinds:
                profiler = cProfile.Profile() if profile_prefix else None
                if profiler:
                    profiler.enable()
                result = await run_sync(ctx, account, kind)
                if profiler and profile_prefix:
                    profiler.disable()
                    path = Path(f"{profile_prefix}-{kind.value}.prof")
                    profiler.dump_stats(path)
                    print(f"  profile: {path}")
                    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(
                        25
                    )
                run = result.run
                figures[kind.value] = {
                    "items": run.processed_items,
                    "pages": run.total_pages,
                    "api_calls": run.api_calls,
                    "seconds": round(result.seconds, 2),
                    "items_per_s": round(result.items_per_second, 0),
                }
            return figures
        finally:
            await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=30_000)
    parser.add_argument("--orders", type=int, default=30_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--concurrency", default="4,8", help="sync_fetch_concurrency values")
    parser.add_argument("--kinds", default="offers,orders")
    parser.add_argument("--profile", type=Path, default=None, help="write cProfiles here")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    kinds = [SyncKind(k.strip()) for k in args.kinds.split(",") if k.strip()]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    config = SimConfig(
        seed=4,
        offers=args.offers,
        orders=args.orders,
        history_days=HISTORY_DAYS,
        accounts=[SimAccount(name="main", account_type="main")],
        rate_limit=False,
    )
    print(machine_line())
    print(
        f"simulator (own process, limits off): {args.offers} offers, {args.orders} orders "
        f"over {HISTORY_DAYS} days; client pacing off"
    )
    results: list[dict[str, Any]] = []
    with SimulatorServer(config, subprocess=True) as sim:
        print(f"simulator start-up {sim.startup_seconds:.1f} s")
        for backend in backends:
            for concurrency in levels:
                with fresh_database(backend) as url:
                    prefix = args.profile / f"{backend}-c{concurrency}" if args.profile else None
                    figures = asyncio.run(one_backend(sim, url, concurrency, kinds, prefix))
                for kind, fig in figures.items():
                    print(
                        f"{backend:<10} concurrency {concurrency}: {kind:<6} "
                        f"{fig['items']:>7} items, {fig['pages']:>4} pages in "
                        f"{fig['seconds']:>6.2f} s = {fig['items_per_s']:>6.0f} items/s"
                    )
                    results.append({"backend": backend, "concurrency": concurrency, "kind": kind})
                    results[-1].update(fig)

    def best(backend: str, kind: str) -> float | None:
        rates = [r["items_per_s"] for r in results if r["backend"] == backend and r["kind"] == kind]
        return max(rates) if rates else None

    pg_offers, pg_orders = best("postgresql", "offers"), best("postgresql", "orders")
    if pg_offers is not None:
        print(
            f"PostgreSQL offers: best {pg_offers:.0f}/s vs goal {OFFERS_GOAL:.0f}/s "
            f"({pg_offers / OFFERS_GOAL:.0%} of goal)"
        )
    if pg_orders is not None:
        print(
            f"PostgreSQL orders: best {pg_orders:.0f}/s vs goal {ORDERS_GOAL:.0f}/s "
            f"({pg_orders / ORDERS_GOAL:.0%} of goal)"
        )
    print(
        json.dumps(
            {
                "bench": "sync_throughput",
                "offers": args.offers,
                "orders": args.orders,
                "results": [
                    {k: r[k] for k in ("backend", "concurrency", "kind", "items", "items_per_s")}
                    for r in results
                ],
                "pg_offers_per_s": pg_offers,
                "pg_orders_per_s": pg_orders,
                "goal_offers_per_s": OFFERS_GOAL,
                "goal_orders_per_s": ORDERS_GOAL,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
