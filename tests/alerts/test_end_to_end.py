"""Alerts from what the simulator serves, end to end: the order sync stores eMAG's flags
(``late_shipment``, ``cancellation_request``, migration 0013), eMAG's IP refusal
(``vendor_ip_refused``: ``ERROR: Invalid vendor ip [...]``, recorded by the sync as
``EmagIpNotWhitelistedError``) fails a sync run and a bulk operation, and each rule's alerts reach
a real webhook receiver."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from magflow.alerts import service
from magflow.alerts.delivery import deliver_due
from magflow.alerts.models import RuleKind
from magflow.alerts.schemas import RuleCreate, WebhookCreate
from magflow.alerts.worker import evaluate
from magflow.context import AppContext
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from tests.alerts.conftest import Receiver
from tests.bulk.conftest import wait_done
from tests.orders.support import Clients, clients
from tests.support.simulation import Accounts, set_faults, sync

__all__ = ["clients"]


@pytest.fixture
def sim_config() -> SimConfig:
    """Five days of orders: some open with a cancellation request, some flagged late (as in
    tests/intake/test_todo_sync.py)."""
    tag = uuid.uuid4().hex[:8]
    return SimConfig(
        seed=5,
        offers=5,
        orders=50,
        history_days=3,
        accounts=[
            SimAccount(name="main", account_type="main", username=f"m-{tag}", password="pw-m"),
            SimAccount(name="fbe", account_type="fbe", username=f"f-{tag}", password="pw-f"),
        ],
    )


async def _delivered(ctx: AppContext, receiver: Receiver) -> dict[str, set[str]]:
    """Evaluate the rules, deliver, and return the texts the receiver got, by rule kind."""
    await evaluate(ctx, datetime.now(UTC) + timedelta(seconds=1))
    statuses = await deliver_due(ctx, datetime.now(UTC) + timedelta(seconds=1))
    assert set(statuses.values()) <= {"delivered"}, statuses
    texts: dict[str, set[str]] = {}
    for _, body in receiver.requests:
        alert = json.loads(body)["alert"]
        texts.setdefault(alert["kind"], set()).add(json.loads(body)["text"])
    receiver.requests.clear()
    return texts


async def test_synced_flags_and_the_ip_refusal_are_alerted_and_delivered(
    ctx: AppContext,
    sim: SimulatorServer,
    accounts: Accounts,
    clients: Clients,
    receiver: Receiver,
) -> None:
    main = accounts.main
    assert (await sync(ctx, main, SyncKind.offers)).status == "completed"
    async with ctx.db.session() as session:
        webhook, _ = await service.create_webhook(
            session,
            ctx.cipher,
            WebhookCreate(name="ops", url=receiver.url),  # type: ignore[arg-type]
        )
        for kind, account in [
            (RuleKind.late_shipment, "main"),
            (RuleKind.cancellation_request, "main"),
            (RuleKind.sync_failed, "main"),
            (RuleKind.ip_refused, None),
            (RuleKind.bulk_failures, None),
        ]:
            await service.create_rule(
                session,
                RuleCreate(name=kind.value, kind=kind, account=account, webhook_ids=[webhook.id]),
                "test",
            )
        await session.commit()

    assert (await sync(ctx, main, SyncKind.orders)).status == "completed"
    async with ctx.db.session() as session:
        stored = (
            (await session.execute(select(EmagOrder).where(EmagOrder.account_id == main.id)))
            .scalars()
            .all()
        )
    late = {o.emag_id for o in stored if o.late_shipment}
    asked = {o.emag_id for o in stored if o.cancellation_requested and o.status in (1, 2, 3)}
    assert late and asked  # the simulator flags some of each
    texts = await _delivered(ctx, receiver)
    assert set(texts) == {"late_shipment", "cancellation_request"}  # the sync itself went well
    assert texts["late_shipment"] == {
        f"main: order {i} is flagged by eMAG as shipped late" for i in late
    }
    assert texts["cancellation_request"] == {
        f"main: order {i} has a cancellation request from the customer" for i in asked
    }

    # eMAG refuses this server's IP: the next sync run fails, a bulk operation fails.
    await set_faults(sim, vendor_ip_refused=[main.username])
    refused = await sync(ctx, main, SyncKind.orders)
    assert refused.status == "failed"
    body = {"items": [{"offer_id": n, "account": "main", "stock": 4} for n in (1, 2)]}
    created = await clients.operator.post("/api/v1/emag/bulk/offers", json=body)
    assert created.status_code == 202, created.text
    operation = await wait_done(clients.operator, created.json()["id"])
    assert operation["failed_items"] == 2, operation
    texts = await _delivered(ctx, receiver)
    assert set(texts) == {"sync_failed", "ip_refused", "bulk_failures"}
    (failed,) = texts["sync_failed"]
    assert failed.startswith(f"main: orders sync run {refused.id} ended failed: ")
    assert "ERROR: Invalid vendor ip [127.0.0.1]" in failed
    assert texts["ip_refused"] == {
        f"main: orders sync run {refused.id} was refused by eMAG: this server's IP is not "
        "whitelisted (add it in the eMAG Marketplace settings)"
    }
    (bulk,) = texts["bulk_failures"]
    assert bulk.startswith(f"bulk operation {operation['id']} ended ")
    assert "2 failed" in bulk
    # Nothing changed since: nothing is alerted again.
    assert await _delivered(ctx, receiver) == {}
