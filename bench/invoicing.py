"""Benchmark: 1,000 finalized orders invoiced at a provider and attached on eMAG in one run.

Starts the eMAG simulator in its own process with eMAG's limits on (the order bucket, which
``order/attachments/save`` is in: 12 requests/s, 720/min, docs/emag-protocol.md, "Rate and size
limits") and the Oblio simulator (``magflow.invoicing.sims``) in a thread, answering every call
after ``--latency`` seconds (default 0.25: a realistic issue time; its own rate limits are off, see
docs/invoicing-providers.md). MagFlow paces its eMAG calls (limits on). It syncs the orders, sets
the account's invoicing to Oblio with the ``finalized`` trigger, and runs the job's tick until
every finalized order has its invoice attached.

Figures: the attachment rate in steady state (attachments after the first divided by the time
between the first and the last) over eMAG's 12 requests/s; duplicates (documents issued at the
provider per order, attachments per order on eMAG, audit rows per order). ``goal_met``: at least
1,000 orders attached, rate >= 0.9 x 12/s, no duplicate, nothing failed. The last line is JSON.

    .venv/bin/python bench/invoicing.py [--orders 1000] [--latency 0.25] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import threading
import time
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import uvicorn
from _common import add_sim_account, bench_settings, free_port, fresh_database, machine_line
from _common import run_sync as sync_orders
from sqlalchemy import func, select

from magflow.audit.models import AuditLog
from magflow.context import AppContext
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.invoicing.models import Invoice, InvoicingSettings
from magflow.invoicing.service import InvoicingService
from magflow.invoicing.sims import ProviderSim, oblio_app
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind

EMAG_ORDER_RATE = 12.0
PUBLIC = "https://magflow.example"


def serve_provider(state: ProviderSim) -> tuple[str, uvicorn.Server]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(oblio_app(state), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


async def clear_invoices(sim: SimulatorServer, emag_ids: list[int]) -> None:
    """Remove the seeded attachments of these orders on the simulator (its control API)."""
    slots = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=sim.root_url, timeout=30) as control:

        async def one(emag_id: int) -> None:
            async with slots:
                response = await control.post(
                    f"/_sim/accounts/main/orders/{emag_id}/edit", json={"attachments": []}
                )
                response.raise_for_status()

        await asyncio.gather(*(one(i) for i in emag_ids))


async def run(args: argparse.Namespace, database_url: str, var_dir: Path) -> dict[str, Any]:
    # Enough seeded orders for ``--orders`` finalized ones (about 60 % of the history is).
    config = SimConfig(
        seed=5,
        offers=50,
        orders=int(args.orders * 1.9),
        history_days=60,
        accounts=[
            SimAccount(
                name="main", account_type="main", username="bench", password=secrets.token_hex(8)
            )
        ],
    )
    provider = ProviderSim(latency=args.latency)
    provider_url, provider_server = serve_provider(provider)
    with SimulatorServer(config, subprocess=True) as sim:
        ctx = AppContext.build(bench_settings(database_url, var_dir))
        try:
            account = await add_sim_account(ctx, sim, sim.accounts[0])
            await sync_orders(ctx, account, SyncKind.orders)
            async with ctx.db.session() as session:
                finalized = list(
                    (
                        await session.execute(
                            select(EmagOrder.id)
                            .where(EmagOrder.account_id == account.id, EmagOrder.status == 4)
                            .order_by(EmagOrder.id)
                        )
                    ).scalars()
                )
                # exactly ``--orders`` finalized: the others are moved out of the trigger's way
                extra = finalized[args.orders :]
                if extra:
                    for order in (
                        await session.execute(select(EmagOrder).where(EmagOrder.id.in_(extra)))
                    ).scalars():
                        order.status = 3
                # The seed attaches an invoice (issued elsewhere) to most finalized orders, and
                # MagFlow issues none for those (one invoice per order): taken off on eMAG's side
                # and in the stored copy (as the next sync would) before the run.
                seeded = list(
                    (
                        await session.execute(
                            select(EmagOrder).where(
                                EmagOrder.id.in_(finalized[: args.orders]),
                                EmagOrder.has_invoice.is_(True),
                            )
                        )
                    ).scalars()
                )
                await clear_invoices(sim, [o.emag_id for o in seeded])
                for order in seeded:
                    order.attachments, order.has_invoice = [], False
                    order.raw = {**order.raw, "attachments": []}
                session.add(
                    InvoicingSettings(
                        account_id=account.id,
                        provider="oblio",
                        trigger="finalized",
                        series="MFT",
                        seller_name="Bench SRL",
                        seller_cui="RO18547290",
                        seller_address="Str. Exemplu 1",
                        seller_city="București",
                        seller_country="RO",
                        vat_payer=True,
                        public_base_url=PUBLIC,
                        provider_base_url=provider_url,
                        credentials_encrypted=ctx.cipher.encrypt(
                            json.dumps({"email": provider.username, "secret": provider.token})
                        ),
                    )
                )
                await session.commit()
            target = min(args.orders, len(finalized))
            service = InvoicingService(ctx)
            started = time.perf_counter()
            ticks = 0
            while True:
                await service.tick()
                ticks += 1
                async with ctx.db.session() as session:
                    states = dict(
                        (
                            await session.execute(
                                select(Invoice.state, func.count()).group_by(Invoice.state)
                            )
                        ).all()
                    )
                done = states.get("attached", 0) + states.get("failed", 0)
                if done >= target or ticks > 50:
                    break
            wall = time.perf_counter() - started
            async with ctx.db.session() as session:
                stamps = sorted(
                    (
                        await session.execute(
                            select(Invoice.attached_at).where(Invoice.attached_at.is_not(None))
                        )
                    ).scalars()
                )
                rows = list((await session.execute(select(Invoice))).scalars())
                audits = Counter(
                    (
                        await session.execute(
                            select(AuditLog.target).where(AuditLog.action == "orders.attachment")
                        )
                    ).scalars()
                )
                emag_ids = dict(
                    (
                        await session.execute(
                            select(EmagOrder.id, EmagOrder.emag_id).where(
                                EmagOrder.id.in_([r.order_id for r in rows])
                            )
                        )
                    ).all()
                )
            span = (stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else 0.0
            rate = (len(stamps) - 1) / span if span else 0.0
            issued_per_ref = Counter(i["body"].get("idempotencyKey") for i in provider.issued)
            async with httpx.AsyncClient(base_url=sim.root_url, timeout=30) as control:
                attached_twice = 0
                for row in rows:
                    order = (
                        await control.get(f"/_sim/accounts/main/orders/{emag_ids[row.order_id]}")
                    ).json()
                    url = f"{PUBLIC}/invoices/files/{row.token}.pdf"
                    if [a["url"] for a in order.get("attachments") or []].count(url) != 1:
                        attached_twice += 1
        finally:
            await ctx.close()
            provider_server.should_exit = True
    attached = sum(r.state == "attached" for r in rows)
    duplicates = {
        "documents_issued_twice": sum(n > 1 for n in issued_per_ref.values()),
        "orders_not_attached_exactly_once": attached_twice,
        "orders_with_two_attachment_audits": sum(n > 1 for n in audits.values()),
    }
    return {
        "bench": "invoicing",
        "orders": target,
        "attached": attached,
        "failed": sum(r.state == "failed" for r in rows),
        "provider_documents": len(provider.issued),
        "wall_seconds": round(wall, 1),
        "attach_rate_per_s": round(rate, 2),
        "emag_order_rate_per_s": EMAG_ORDER_RATE,
        "share_of_emag_rate": round(rate / EMAG_ORDER_RATE, 3),
        "provider_latency_s": args.latency,
        "ticks": ticks,
        **duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    print(machine_line())
    with fresh_database(args.backend) as url, TemporaryDirectory() as tmp:
        result = asyncio.run(run(args, url, Path(tmp)))
    for key, value in result.items():
        if key != "bench":
            print(f"{key:36} {value}")
    result["goal_met"] = (
        result["attached"] >= 1000
        and result["failed"] == 0
        and result["share_of_emag_rate"] >= 0.9
        and not any(
            result[k]
            for k in (
                "documents_issued_twice",
                "orders_not_attached_exactly_once",
                "orders_with_two_attachment_audits",
            )
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
