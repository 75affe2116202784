"""Repricer and profit report figures (issue 16), on PostgreSQL.

    .venv/bin/python bench/repricer.py [--offers 100000] [--changes 10000] [--lines 1000000]
        [--requests 30] [--history-offers 100000] [--skip evaluate,apply,report,history]

Four parts, each on a fresh database on the server of ``MAGFLOW_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``), dropped afterwards:

1. **evaluate**: ``--offers`` offers, each with a unit cost, and one account-wide "win" rule
   (filled server-side with ``INSERT ... SELECT generate_series``). Times
   :func:`magflow.pricing.repricer.evaluate` (read the offers, costs, commissions and states,
   decide every offer; the median of 3) and one whole dry run (which also records the decisions).
   Goal: evaluate <= 5 s.
2. **apply**: a simulator in its own process, eMAG's rate limits on, ``--changes`` offers; the
   same offers stored locally (mapped from the simulator's own data, as a sync would store them),
   each with a cost, and a "margin" rule that moves every price. A live run
   (:func:`magflow.pricing.repricer.run`) creates the bulk operation; it is executed here by
   :class:`magflow.bulk.runner.BulkRunner` (batches of 50, the account's rate limiter, audited),
   timed from its start to its end. Rate = ``offer/save`` requests / seconds; eMAG allows 3
   requests/s (and 180/min) on that route (docs/emag-protocol.md, "Rate and size limits").
   Goal: rate >= 0.9 x 3/s, 0 responses 429, every change accepted.
3. **report**: ``--lines`` order lines over 365 days, 5,000 offers, 40 categories, and the app
   under uvicorn in a subprocess; ``GET /api/v1/pricing/report`` per day, offer and category
   (the default 30 days) and per day over 365 days, ``--requests`` times each over HTTP.
   Goal: p95 <= 200 ms for each of the default reports.
4. **history**: ``--history-offers`` offers stored, then a page-by-page pass of the history hook
   (:func:`magflow.pricing.history.record_changes`, as the sync calls it) with 1 % of the offers
   changed: the rows and bytes (table and indexes, ``pg_total_relation_size``) one sync adds.

The last line is JSON with every figure and ``goal_met``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _common import (
    add_sim_account,
    add_viewer,
    app_server,
    bench_settings,
    fresh_database,
    machine,
    machine_line,
    sim_stats,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from magflow.audit.service import Actor
from magflow.bulk.runner import BulkRunner
from magflow.catalog import repository as catalog_repository
from magflow.catalog.mapping import offer_row
from magflow.context import AppContext
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.emag_sim.state import SimState
from magflow.pricing import history, repricer
from magflow.pricing.models import PricingRule

EVALUATE_GOAL_S = 5.0
RATE_GOAL = 0.9
ALLOWED_RATE = 3.0  # offer/save: the "other" bucket, 3/s and 180/min
REPORT_P95_GOAL_MS = 200.0
EMAIL = "bench@example.com"
PASSWORD = "bench password that is long enough"

FILL_OFFERS = """
INSERT INTO emag_products_v2 (
    account_id, emag_id, name, brand, category_id, currency, sale_price, min_sale_price,
    max_sale_price, best_offer_sale_price, vat_id, vat_rate, stock_total, status,
    buy_button_rank, number_of_offers, raw, last_seen_at, created_at, updated_at
)
SELECT %(account)s, g, 'Offer ' || g, 'Brand ' || (g %% 50), 1 + g %% 40, 'RON', p,
       round(p * 0.7, 4), round(p * 1.6, 4),
       round((p * (0.9 + random() * 0.1))::numeric, 4), 1, 0.21,
       10, 1, 1 + (g %% 3), 3, '{}'::jsonb, now(), now(), now()
FROM (SELECT g, round((10 + random() * 990)::numeric, 4) AS p
      FROM generate_series(1, %(offers)s) AS g) AS o
"""

FILL_COSTS = """
INSERT INTO pricing_offer_costs (account_id, emag_id, unit_cost, currency, updated_at)
SELECT %(account)s, emag_id, round(sale_price * 0.55, 2), 'RON', now()
FROM emag_products_v2 WHERE account_id = %(account)s
"""

FILL_ORDERS = """
INSERT INTO emag_orders (account_id, emag_id, order_type, status, order_date, currency, raw,
                         last_seen_at, created_at, updated_at)
SELECT %(account)s, g, 3, 4, now() - (g %% 365) * interval '1 day', 'RON', '{}'::jsonb,
       now(), now() - interval '1 hour', now() - interval '1 hour'
FROM generate_series(1, %(orders)s) AS g
"""

FILL_LINES = """
INSERT INTO pricing_order_lines (account_id, order_id, day, emag_id, category_id, currency,
                                 quantity, revenue, cost, commission, shipping, deposit, profit)
SELECT %(account)s, o.id, (o.order_date AT TIME ZONE 'Europe/Bucharest')::date, l.offer,
       1 + l.offer %% 40, 'RON', 1, l.revenue, round(l.revenue * 0.6, 4),
       round(l.revenue * 0.121, 4), 2, 0, round(l.revenue * 0.279 - 2, 4)
FROM (SELECT g, 1 + (g %% %(orders)s) AS order_emag_id, 1 + (g::bigint * 7919) %% 5000 AS offer,
             round((10 + random() * 500)::numeric, 4) AS revenue
      FROM generate_series(1, %(lines)s) AS g) AS l
JOIN emag_orders o ON o.account_id = %(account)s AND o.emag_id = l.order_emag_id
"""


def sync_url(async_url: str) -> str:
    return make_url(async_url).set(drivername="postgresql").render_as_string(hide_password=False)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def make_account(ctx: AppContext, name: str = "main") -> Any:
    from magflow.accounts import service as accounts_service
    from magflow.accounts.models import AccountType
    from magflow.accounts.schemas import AccountCreate, PlatformCode

    async with ctx.db.session() as session:
        account = await accounts_service.add_account(
            session,
            ctx.cipher,
            AccountCreate(
                name=name,
                platform=PlatformCode.ro,
                account_type=AccountType.main,
                username=f"bench-{secrets.token_hex(3)}",
                password=PASSWORD,
            ),
        )
        await session.commit()
        return account


# -- 1. evaluate -------------------------------------------------------------------------------


async def bench_evaluate(url: str, tmp: Path, offers: int) -> dict[str, Any]:
    ctx = AppContext.build(bench_settings(url, tmp))
    try:
        account = await make_account(ctx)
        with psycopg.connect(sync_url(url), autocommit=True) as conn:
            conn.execute(FILL_OFFERS, {"account": account.id, "offers": offers})
            conn.execute(FILL_COSTS, {"account": account.id})
            conn.execute(
                "INSERT INTO pricing_settings (account_id, shipping_per_order, packaging_per_order,"
                " fbe_fee_per_order, default_commission_rate, updated_at)"
                " VALUES (%s, 5, 1, 0, 0.12, now())",
                (account.id,),
            )
            conn.execute("VACUUM ANALYZE")
        async with ctx.db.session() as session:
            session.add(
                PricingRule(
                    account_id=account.id,
                    name="win everything",
                    scope="account",
                    strategy="win",
                    step=Decimal("0.01"),
                    min_margin=Decimal("0.05"),
                    cooldown_minutes=0,
                    max_changes_per_day=10,
                    stop_after_steps=5,
                    enabled=True,
                )
            )
            await session.commit()
        times = []
        decided: list[Any] = []
        for _ in range(3):
            async with ctx.db.session() as session:
                started = time.perf_counter()
                decided, _states = await repricer.evaluate(session, account, datetime.now(UTC))
                times.append(time.perf_counter() - started)
        changes = sum(1 for d, _ in decided if d.action == "change")
        started = time.perf_counter()
        await repricer.run(ctx, account, trigger="bench", dry_run=True, actor=Actor(None, "bench"))
        dry_run = time.perf_counter() - started
        seconds = statistics.median(times)
        print(
            f"evaluate: {len(decided):,} offers in {seconds:.2f} s (median of 3; "
            f"{changes:,} changes); whole dry run with its decisions {dry_run:.2f} s"
        )
        return {
            "offers": len(decided),
            "evaluate_seconds": round(seconds, 3),
            "dry_run_seconds": round(dry_run, 3),
            "changes": changes,
            "goal_met": seconds <= EVALUATE_GOAL_S,
        }
    finally:
        await ctx.close()


# -- 2. apply ----------------------------------------------------------------------------------


class _Enqueued:
    """A job runner that only remembers the bulk operations it was given."""

    def __init__(self) -> None:
        self.bulk: list[int] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def enqueue(self, run_id: int) -> None: ...

    async def enqueue_bulk(self, operation_id: int) -> None:
        self.bulk.append(operation_id)


async def bench_apply(url: str, tmp: Path, changes: int) -> dict[str, Any]:
    sim_account = SimAccount(
        name="main",
        account_type="main",
        username=f"apply-{secrets.token_hex(3)}",
        password=PASSWORD,
    )
    config = SimConfig(seed=5, offers=changes, orders=10, accounts=[sim_account], rate_limit=True)
    state = SimState(config)
    sim_state = state.account("main")
    assert sim_state is not None
    with SimulatorServer(config, subprocess=True) as sim:
        ctx = AppContext.build(bench_settings(url, tmp))
        runner = _Enqueued()
        ctx.runner = runner
        try:
            account = await add_sim_account(ctx, sim, sim_account)
            now = datetime.now(UTC)
            rows = []
            for offer_id in range(1, changes + 1):
                raw = sim_state.get_offer(offer_id)
                assert raw is not None
                rows.append(
                    offer_row(
                        raw,
                        account_id=account.id,
                        run_id=0,
                        now=now,
                        currency="RON",
                        vat_rates={1: Decimal("0.21")},
                    )
                    | {"created_at": now}
                )
            async with ctx.db.session() as session:
                for start in range(0, len(rows), 1000):
                    await catalog_repository.upsert_offers(
                        session, account.id, rows[start : start + 1000]
                    )
                await session.commit()
            with psycopg.connect(sync_url(url), autocommit=True) as conn:
                conn.execute(FILL_COSTS, {"account": account.id})
                conn.execute(
                    "INSERT INTO pricing_settings (account_id, shipping_per_order,"
                    " packaging_per_order, fbe_fee_per_order, default_commission_rate, updated_at)"
                    " VALUES (%s, 0, 0, 0, 0.1, now())",
                    (account.id,),
                )
            async with ctx.db.session() as session:
                # Cost 0.55 x price; a 20 % margin asks 0.55 / (1 - 0.121 - 0.2) = 0.81 x the
                # price, inside eMAG's [0.7, 1.6] x the price: every offer moves.
                session.add(
                    PricingRule(
                        account_id=account.id,
                        name="margin",
                        scope="account",
                        strategy="margin",
                        step=Decimal("0.01"),
                        min_margin=Decimal("0.1"),
                        target_margin=Decimal("0.2"),
                        cooldown_minutes=0,
                        max_changes_per_day=10,
                        stop_after_steps=5,
                        enabled=True,
                    )
                )
                await session.commit()
            run_id = await repricer.run(
                ctx, account, trigger="bench", dry_run=False, actor=Actor(None, "bench")
            )
            assert runner.bulk, "the run queued no changes"
            sim_stats(sim, reset=True)
            started = time.perf_counter()
            status = await BulkRunner(ctx).execute(runner.bulk[0])
            seconds = time.perf_counter() - started
            stats = sim_stats(sim)
            async with ctx.db.session() as session:
                from magflow.pricing import repository as pricing_repository

                pricing_run = await pricing_repository.get_run(session, run_id)
                assert pricing_run is not None
                await repricer.reconcile(session, pricing_run)
                await session.commit()
                sent = (
                    await session.execute(
                        text(
                            "SELECT count(*) FROM pricing_decisions"
                            " WHERE run_id = :r AND outcome = 'sent'"
                        ),
                        {"r": run_id},
                    )
                ).scalar_one()
                refused = pricing_run.refused
            requests = stats["requests"].get("offer/save", {}).get("200", 0)
            rate = requests / seconds
            limited = int(stats["rate_limited"])
            print(
                f"apply: {sent:,} changes accepted ({refused} refused) in {requests} offer/save "
                f"requests, {seconds:.1f} s: {rate:.3f} req/s = {rate / ALLOWED_RATE:.3f} of "
                f"eMAG's 3/s; 429s: {limited}; bulk operation {status}"
            )
            return {
                "changes": int(sent),
                "refused": int(refused),
                "requests": requests,
                "seconds": round(seconds, 2),
                "rate": round(rate, 3),
                "rate_ratio": round(rate / ALLOWED_RATE, 3),
                "http_429": limited,
                "goal_met": rate / ALLOWED_RATE >= RATE_GOAL and limited == 0 and refused == 0,
            }
        finally:
            await ctx.close()


# -- 3. report ---------------------------------------------------------------------------------


async def prepare_report(url: str, tmp: Path, lines: int) -> None:
    settings = bench_settings(url, tmp)
    ctx = AppContext.build(settings)
    try:
        account = await make_account(ctx)
    finally:
        await ctx.close()
    orders = max(1, lines // 2)
    with psycopg.connect(sync_url(url), autocommit=True) as conn:
        conn.execute(FILL_ORDERS, {"account": account.id, "orders": orders})
        conn.execute(FILL_LINES, {"account": account.id, "orders": orders, "lines": lines})
        # The lines are up to date with the orders: nothing to rebuild at the first request.
        conn.execute(
            "INSERT INTO pricing_order_watermarks (account_id, updated_until, last_order_id)"
            " SELECT %s, max(updated_at), max(id) FROM emag_orders",
            (account.id,),
        )
        conn.execute("VACUUM ANALYZE")
    await add_viewer(settings, EMAIL, PASSWORD)


def bench_report(url: str, tmp: Path, lines: int, requests: int) -> dict[str, Any]:
    asyncio.run(prepare_report(url, tmp, lines))
    env = {
        "MAGFLOW_DATABASE_URL": url,
        "MAGFLOW_VAR_DIR": str(tmp),
        "MAGFLOW_SECRET_KEY": secrets.token_urlsafe(32),
        "MAGFLOW_MIGRATE_ON_START": "false",
        "MAGFLOW_SCHEDULES_ENABLED": "false",
        "MAGFLOW_REDIS_URL": "",
    }
    cases = {
        "day_30": {"group": "day"},
        "offer_30": {"group": "offer"},
        "category_30": {"group": "category"},
        "day_365": {"group": "day", "date_from": "2020-01-01"},
    }
    out: dict[str, Any] = {"lines": lines}
    with app_server(env) as base, httpx.Client(base_url=base, timeout=60) as client:
        login = client.post("/api/v1/auth/login", data={"username": EMAIL, "password": PASSWORD})
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        for name, params in cases.items():
            query = {"account": "main", **params}
            for _ in range(3):  # warm-up
                client.get("/api/v1/pricing/report", params=query).raise_for_status()
            samples = []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get("/api/v1/pricing/report", params=query)
                samples.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            rows = len(response.json()["rows"])
            out[name] = {
                "p50_ms": round(statistics.median(samples), 1),
                "p95_ms": round(percentile(samples, 95), 1),
                "rows": rows,
            }
            print(f"report {name}: p50 {out[name]['p50_ms']} ms, p95 {out[name]['p95_ms']} ms")
    out["goal_met"] = all(
        out[name]["p95_ms"] <= REPORT_P95_GOAL_MS for name in ("day_30", "offer_30", "category_30")
    )
    return out


# -- 4. history --------------------------------------------------------------------------------


async def bench_history(url: str, tmp: Path, offers: int) -> dict[str, Any]:
    ctx = AppContext.build(bench_settings(url, tmp))
    try:
        account = await make_account(ctx)
        with psycopg.connect(sync_url(url), autocommit=True) as conn:
            conn.execute(FILL_OFFERS, {"account": account.id, "offers": offers})
            conn.execute("VACUUM ANALYZE")
        columns = [*history.WATCHED, "emag_id"]
        async with ctx.db.session() as session:
            stored = (
                await session.execute(
                    text(f"SELECT {', '.join(columns)} FROM emag_products_v2 ORDER BY emag_id")  # noqa: S608
                )
            ).mappings()
            rows = [dict(r) for r in stored]
        for i, row in enumerate(rows):
            if i % 100 == 0:  # 1 % change: the price and the rank
                row["sale_price"] = row["sale_price"] - Decimal("0.01")
                row["buy_button_rank"] = 1
        size_sql = text("SELECT pg_total_relation_size('pricing_offer_history')")
        async with ctx.db.session() as session:
            before = (await session.execute(size_sql)).scalar_one()
        started = time.perf_counter()
        written = 0
        now = datetime.now(UTC)
        for start in range(0, len(rows), 100):  # as the sync: one page of 100 per call
            async with ctx.db.session() as session:
                written += await history.record_changes(
                    session, account.id, rows[start : start + 100], now
                )
                await session.commit()
        seconds = time.perf_counter() - started
        with psycopg.connect(sync_url(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE pricing_offer_history")
        async with ctx.db.session() as session:
            after = (await session.execute(size_sql)).scalar_one()
        added = int(after) - int(before)
        print(
            f"history: {offers:,} offers, 1 % changed: {written:,} rows, {added:,} bytes "
            f"({added / max(written, 1):.0f} bytes a row with its indexes); the hook took "
            f"{seconds:.1f} s over {offers // 100:,} pages"
        )
        return {
            "offers": offers,
            "rows_per_sync": written,
            "bytes_per_sync": added,
            "hook_seconds": round(seconds, 2),
        }
    finally:
        await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--history-offers", type=int, default=100_000)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    print(machine_line(), flush=True)
    result: dict[str, Any] = {"bench": "repricer", "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="magflow-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if "evaluate" not in skip:
            with fresh_database("postgresql") as url:
                result["evaluate"] = asyncio.run(bench_evaluate(url, tmp, args.offers))
        if "apply" not in skip:
            with fresh_database("postgresql") as url:
                result["apply"] = asyncio.run(bench_apply(url, tmp, args.changes))
        if "report" not in skip:
            with fresh_database("postgresql") as url:
                result["report"] = bench_report(url, tmp, args.lines, args.requests)
        if "history" not in skip:
            with fresh_database("postgresql") as url:
                result["history"] = asyncio.run(bench_history(url, tmp, args.history_offers))
    goals = [
        part["goal_met"]
        for part in result.values()
        if isinstance(part, dict) and "goal_met" in part
    ]
    result["goal_met"] = bool(goals) and all(goals) and not skip
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
