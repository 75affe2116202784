"""Benchmark: peak RSS of the process running a 100,000-offer sync.

The simulator runs in its own process (limits off, so the run is not minutes of waiting), and this
process runs the engine: a full offers sync of one MAIN account into a fresh database (SQLite by
default). Peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of this process, read before
the run (imports, simulator client, database engine) and after it; the simulator's own memory is
not counted (it is another process). A background sampler also records RSS (``/proc/self/status``)
over the run to show whether memory grows with the number of pages.

Goal (issue 4): <= 300 MB.

    .venv/bin/python bench/sync_memory.py [--offers 100000] [--backend sqlite|postgresql]
        [--concurrency 4] [--pace]

``--pace`` keeps the client's limiter on (and the simulator's limits on); then the run takes the
real time of 1,000 pages at 3 req/s (about 6 minutes). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import (
    add_sim_account,
    bench_settings,
    fresh_database,
    machine,
    machine_line,
    peak_rss_mb,
    run_sync,
)

from magflow.context import AppContext
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.sync.models import SyncKind

GOAL_MB = 300.0


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopped.wait(self.every):
            self.samples.append((time.monotonic() - started, current_rss_mb()))


async def sync_offers(
    sim: SimulatorServer, url: str, concurrency: int, pace: bool
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="magflow-bench-var-") as var:
        settings = bench_settings(
            url, Path(var), emag_rate_limit=pace, sync_fetch_concurrency=concurrency
        )
        ctx = AppContext.build(settings)
        try:
            account = await add_sim_account(ctx, sim, sim.accounts[0])
            before = peak_rss_mb()
            sampler = Sampler()
            sampler.start()
            result = await run_sync(ctx, account, SyncKind.offers)
            sampler.stopped.set()
            sampler.join()
            return {
                "items": result.run.processed_items,
                "pages": result.run.total_pages,
                "seconds": round(result.seconds, 1),
                "peak_before_mb": round(before, 1),
                "samples": sampler.samples,
            }
        finally:
            await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pace", action="store_true", help="eMAG's limits on (slow)")
    args = parser.parse_args()
    config = SimConfig(
        seed=4,
        offers=args.offers,
        orders=10,
        accounts=[SimAccount(name="main", account_type="main")],
        rate_limit=args.pace,
    )
    print(machine_line())
    print(
        f"{args.offers} offers into {args.backend}, concurrency {args.concurrency}, "
        f"limits {'on' if args.pace else 'off'}; simulator in its own process"
    )
    with SimulatorServer(config, subprocess=True) as sim, fresh_database(args.backend) as url:
        figures = asyncio.run(sync_offers(sim, url, args.concurrency, args.pace))
    peak = peak_rss_mb()
    samples = figures.pop("samples")
    if samples:
        quarter = max(1, len(samples) // 4)
        marks = [samples[min(i * quarter, len(samples) - 1)] for i in range(4)] + [samples[-1]]
        trend = ", ".join(f"{t:.0f}s {rss:.0f} MB" for t, rss in marks)
        print(f"RSS over the run: {trend}")
    print(
        f"synced {figures['items']} offers ({figures['pages']} pages) in {figures['seconds']} s; "
        f"peak RSS before the run {figures['peak_before_mb']:.0f} MB, after {peak:.0f} MB "
        f"(goal <= {GOAL_MB:.0f} MB: {'MET' if peak <= GOAL_MB else 'MISSED'})"
    )
    print(
        json.dumps(
            {
                "bench": "sync_memory",
                "offers": args.offers,
                "backend": args.backend,
                "concurrency": args.concurrency,
                "paced": args.pace,
                "items": figures["items"],
                "seconds": figures["seconds"],
                "peak_rss_before_mb": figures["peak_before_mb"],
                "peak_rss_mb": round(peak, 1),
                "goal_mb": GOAL_MB,
                "goal_met": peak <= GOAL_MB,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
