"""A worker process killed between "issued" and "attached": one invoice at the provider, attached
once on eMAG, by whichever worker comes next."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from magflow.audit.models import AuditLog
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.invoicing.models import Invoice
from magflow.invoicing.service import LEASE_SECONDS, InvoicingService
from magflow.invoicing.sims import ProviderSim, smartbill_app
from magflow.settings import Settings
from tests.invoicing.support import configure, finalized_orders, invoice_attachments, invoices
from tests.orders.support import Clients, sim_order
from tests.support.servers import UvicornThread
from tests.support.simulation import Accounts

# The worker: issues the order's invoice and dies (os._exit: no cleanup, no lease given back)
# right after the provider's answer is stored.
WORKER = """
import asyncio, json, os, sys
from magflow.context import AppContext
from magflow.invoicing.service import InvoicingService
from magflow.settings import Settings

async def main():
    data = json.loads(sys.stdin.read())
    ctx = AppContext.build(Settings(_env_file=None, **data["settings"]))
    service = InvoicingService(ctx, worker="killed-worker")
    async def die(_invoice_id):
        os._exit(9)
    service.steps.after_issue = die
    await service.request(data["order_id"])

asyncio.run(main())
"""


@pytest.fixture
def smartbill() -> Iterator[tuple[ProviderSim, str]]:
    state = ProviderSim()
    with UvicornThread(smartbill_app(state)) as server:
        yield state, server.url


def _settings_json(settings: Settings) -> dict[str, object]:
    assert settings.secret_key is not None
    return {
        "database_url": settings.database_url,
        "redis_url": settings.redis_url,
        "redis_prefix": settings.redis_prefix,
        "secret_key": settings.secret_key.get_secret_value(),
        "var_dir": str(settings.var_dir),
        "migrate_on_start": False,
        "schedules_enabled": False,
    }


async def test_a_worker_killed_between_issued_and_attached_leaves_one_invoice_attached_once(
    ctx: AppContext,
    settings: Settings,
    api: str,
    sim: SimulatorServer,
    accounts: Accounts,
    clients: Clients,
    smartbill: tuple[ProviderSim, str],
) -> None:
    state, url = smartbill
    await configure(
        clients,
        "main",
        api,
        provider="smartbill",
        provider_base_url=url,
        credentials={"username": state.username, "token": state.token},
    )
    order = (await finalized_orders(ctx, sim, accounts))[0]
    payload = json.dumps({"settings": _settings_json(settings), "order_id": order.id})
    worker = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", WORKER],
        input=payload,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 9, worker.stderr
    (row,) = await invoices(ctx)
    assert (row.state, row.claimed_by) == ("issued", "killed-worker")  # its lease is held
    # A click now finds the invoice held and changes nothing.
    held = await clients.operator.post(f"/api/v1/invoicing/orders/{order.id}/invoice")
    assert held.json()["state"] == "issued"
    # Time passes: the dead worker's lease goes stale and the job timer moves the invoice on.
    async with ctx.db.session() as session:
        stale = datetime.now(UTC) - timedelta(seconds=LEASE_SECONDS + 1)
        await session.execute(update(Invoice).values(claimed_at=stale))
        await session.commit()
    await InvoicingService(ctx).tick()
    (row,) = await invoices(ctx)
    assert (row.state, row.number, row.claimed_by) == ("attached", "0001", None)
    assert len(state.issued) == 1
    remote = invoice_attachments(await sim_order(sim, order.emag_id))
    assert [a["url"] for a in remote].count(f"{api}/invoices/files/{row.token}.pdf") == 1
    async with ctx.db.session() as session:
        actions = [a.action for a in (await session.execute(select(AuditLog))).scalars()]
    assert (actions.count("invoicing.issue"), actions.count("orders.attachment")) == (1, 1)
