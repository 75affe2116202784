"""Simulator figures: start-up time and memory at scale, and the time to serve pages.

Runs the simulator in its own process (``SimulatorServer(subprocess=True)``) so the client does
not share its GIL, then prints:

- start-up time (process start to first answer) and the simulator's RSS (VmRSS/VmHWM);
- the time to serve pages of 100 orders and 100 offers (median and p95 of sequential calls);
- the time of a filtered ``order/count`` (first call scans, the repeated call is cached).

Usage: ``python bench/sim_serve.py [--offers 100000] [--orders 200000] [--pages 50]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from magflow.emag_sim import SimConfig, SimulatorServer


def rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def timed(client: httpx.Client, route: str, body: Mapping[str, object]) -> float:
    started = time.perf_counter()
    response = client.post(route, json=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.json()["isError"] is False, response.text
    return elapsed * 1000


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1] if len(ordered) > 1 else ordered[0]
    return f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms (n={len(ordered)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=50)
    args = parser.parse_args()
    cfg = SimConfig(seed=1, offers=args.offers, orders=args.orders, rate_limit=False)
    print(f"simulator: {args.offers} offers + {args.orders} orders per account, 2 accounts")
    with SimulatorServer(cfg, subprocess=True) as sim:
        rss, hwm = rss_mb(sim.pid)
        print(f"start-up: {sim.startup_seconds:.2f} s; RSS {rss:.0f} MB (peak {hwm:.0f} MB)")
        main_acc = sim.account("main")
        with httpx.Client(base_url=sim.base_url, auth=(main_acc.username, main_acc.password)) as c:
            timed(c, "/order/read", {"currentPage": 1})  # warm the connection
            order_pages = [
                timed(c, "/order/read", {"currentPage": p, "itemsPerPage": 100})
                for p in range(1, args.pages + 1)
            ]
            print(f"order/read, 100 orders/page: {summary(order_pages)}")
            offer_pages = [
                timed(c, "/product_offer/read", {"currentPage": p, "itemsPerPage": 100})
                for p in range(1, args.pages + 1)
            ]
            print(f"product_offer/read, 100 offers/page: {summary(offer_pages)}")
            # eMAG takes a date bound only with its pair, at most a month apart.
            now = datetime.now(ZoneInfo("Europe/Bucharest"))
            body = {
                "status": [1, 2, 3],
                "modifiedAfter": f"{now - timedelta(days=28):%Y-%m-%d %H:%M:%S}",
                "modifiedBefore": f"{now:%Y-%m-%d %H:%M:%S}",
            }
            first = timed(c, "/order/count", body)
            again = timed(c, "/order/count", body)
            print(f"filtered order/count: first {first:.1f} ms, cached {again:.1f} ms")
            counts = [timed(c, "/order/count", {}) for _ in range(20)]
            print(f"order/count (no filter): {summary(counts)}")
        rss, hwm = rss_mb(sim.pid)
        print(f"after the run: RSS {rss:.0f} MB (peak {hwm:.0f} MB)")


if __name__ == "__main__":
    main()
