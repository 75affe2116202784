"""Benchmark: how close the eMAG client runs to eMAG's rate limits, and whether it earns 429s.

Starts the simulator in its own process (eMAG's limits enforced in fixed wall-clock windows, like
Kong), then drives, concurrently and for ``--seconds`` each (default 20):

- order routes (``order/read`` pages, 24 tasks) against 12 req/s;
- non-order routes (``product_offer/read`` pages, 8 tasks) against 3 req/s.

The two buckets are independent (docs/emag-protocol.md, "Rate and size limits"), so they run side by
side. For each it prints the achieved rate (steady state: requests after the first divided by the
time between the first and last completion) over the allowed rate, and the 429 count seen by the
client and by the simulator. The last line is one JSON object with the figures.

    .venv/bin/python bench/emag_rate.py [--seconds 20] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx

from magflow.emag import EmagClient, make_rate_limiter
from magflow.emag.ratelimit import Bucket
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer


async def drive(
    client: EmagClient, resource: str, pages: int, tasks: int, seconds: float
) -> list[float]:
    done: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        number = offset
        while time.monotonic() < deadline:
            await client.read_rows(resource, None, 1 + number % pages, 100)
            done.append(time.monotonic())
            number += tasks

    await asyncio.gather(*(worker(i) for i in range(tasks)))
    return sorted(done)


def rate(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


async def run(sim: SimulatorServer, seconds: float, redis_url: str | None) -> dict[str, Any]:
    limiter = make_rate_limiter(redis_url, prefix=f"magflow-bench-{int(time.time())}")
    limits = limiter.limits
    client = EmagClient(
        sim.base_url, "u", "p", platform="ro", rate_limiter=limiter, account_key="bench-main"
    )
    try:
        order, other = await asyncio.gather(
            drive(client, "order", pages=20, tasks=24, seconds=seconds),
            drive(client, "product_offer", pages=10, tasks=8, seconds=seconds),
        )
    finally:
        await client.aclose()
        await limiter.aclose()
    async with httpx.AsyncClient() as control:
        sim_stats = (await control.get(f"{sim.root_url}/_sim/stats", timeout=10)).json()
    order_allowed = limits[Bucket.ORDER][0].limit / limits[Bucket.ORDER][0].seconds
    other_allowed = limits[Bucket.OTHER][0].limit / limits[Bucket.OTHER][0].seconds
    return {
        "order_requests": len(order),
        "order_rate": rate(order),
        "order_allowed": order_allowed,
        "other_requests": len(other),
        "other_rate": rate(other),
        "other_allowed": other_allowed,
        "client_429s": client.stats.rate_limited,
        "sim_429s": sim_stats["rate_limited"],
        "retries": client.stats.retries,
        "max_send_lag": client.stats.max_send_lag,
        "limiter": type(limiter).__name__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--redis", default=None, help="share the limiter through this Redis URL")
    args = parser.parse_args()
    config = SimConfig(
        seed=1,
        offers=1000,
        orders=2000,
        accounts=[SimAccount(name="main", account_type="main", username="u", password="p")],  # noqa: S106
        rate_limit=True,
    )
    with SimulatorServer(config, subprocess=True) as sim:
        figures = asyncio.run(run(sim, args.seconds, args.redis))
    order_ratio = figures["order_rate"] / figures["order_allowed"]
    other_ratio = figures["other_rate"] / figures["other_allowed"]
    print(f"limiter: {figures['limiter']}, {args.seconds:.0f} s per bucket (run side by side)")
    print(
        f"order routes: {figures['order_requests']} requests, "
        f"{figures['order_rate']:.2f} req/s of {figures['order_allowed']:.0f} allowed "
        f"= {order_ratio:.3f}"
    )
    print(
        f"other routes: {figures['other_requests']} requests, "
        f"{figures['other_rate']:.2f} req/s of {figures['other_allowed']:.0f} allowed "
        f"= {other_ratio:.3f}"
    )
    print(
        f"429s: client {figures['client_429s']}, simulator {figures['sim_429s']}; "
        f"retries {figures['retries']}; max send lag {figures['max_send_lag'] * 1000:.1f} ms"
    )
    print(
        json.dumps(
            {
                "bench": "emag_rate",
                "order_ratio": round(order_ratio, 3),
                "other_ratio": round(other_ratio, 3),
                "429s": max(figures["client_429s"], figures["sim_429s"]),
                "seconds": args.seconds,
                "limiter": figures["limiter"],
            }
        )
    )


if __name__ == "__main__":
    main()
