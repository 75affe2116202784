"""Alerts from what the simulator serves, end to end: the order sync stores eMAG's deadlines and
flags (``maximum_date_for_shipment``, ``late_shipment``, ``cancellation_request``, migration
0013), eMAG's IP refusal
(``vendor_ip_refused``: ``ERROR: Invalid vendor ip [...]``, recorded by the sync as
``EmagIpNotWhitelistedError``) fails a sync run and a bulk operation, and each rule's alerts reach
a real webhook receiver."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

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


async def _delivered(ctx: AppContext, receiver: Receiver) -> dict[str, dict[str, Any]]:
    """Evaluate the rules, deliver, and return what the receiver got: per rule kind, each
    alert's text with its details."""
    await evaluate(ctx, datetime.now(UTC) + timedelta(seconds=1))
    statuses = await deliver_due(ctx, datetime.now(UTC) + timedelta(seconds=1))
    assert set(statuses.values()) <= {"delivered"}, statuses
    got: dict[str, dict[str, Any]] = {}
    for _, body in receiver.requests:
        payload = json.loads(body)
        got.setdefault(payload["alert"]["kind"], {})[payload["text"]] = payload["alert"]["details"]
    receiver.requests.clear()
    return got


def _orders(alerts: dict[str, Any]) -> set[int]:
    return {details["emag_order_id"] for details in alerts.values()}


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
        for kind, account, threshold in [
            (RuleKind.order_unacknowledged, "main", 1),
            (RuleKind.shipping_due, "main", 24),
            (RuleKind.late_shipment, "main", None),
            (RuleKind.cancellation_request, "main", None),
            (RuleKind.sync_failed, "main", None),
            (RuleKind.ip_refused, None, None),
            (RuleKind.bulk_failures, None, None),
        ]:
            rule = RuleCreate(
                name=kind.value,
                kind=kind,
                account=account,
                threshold=threshold,
                webhook_ids=[webhook.id],
            )
            await service.create_rule(session, rule, "test")
        await session.commit()

    assert (await sync(ctx, main, SyncKind.orders)).status == "completed"
    async with ctx.db.session() as session:
        stored = (
            (await session.execute(select(EmagOrder).where(EmagOrder.account_id == main.id)))
            .scalars()
            .all()
        )
    now = datetime.now(UTC)
    seller = [o for o in stored if o.order_type == 3]
    placed_before = now - timedelta(minutes=1)
    new = {
        o.emag_id
        for o in seller
        if o.status == 1 and o.order_date is not None and o.order_date < placed_before
    }
    due = {
        o.emag_id
        for o in seller
        if o.status in (1, 2, 3)
        and o.maximum_date_for_shipment is not None
        and now < o.maximum_date_for_shipment <= now + timedelta(hours=24)
    }
    late = {o.emag_id for o in stored if o.late_shipment}
    asked = {o.emag_id for o in stored if o.cancellation_requested and o.status in (1, 2, 3)}
    assert new and due and late and asked  # the simulator serves some of each
    texts = await _delivered(ctx, receiver)
    # Only the order rules: the sync itself went well.
    assert set(texts) == {
        "order_unacknowledged",
        "shipping_due",
        "late_shipment",
        "cancellation_request",
    }
    assert _orders(texts["order_unacknowledged"]) == new
    assert _orders(texts["shipping_due"]) == due
    assert set(texts["late_shipment"]) == {
        f"main: order {i} is flagged by eMAG as shipped late" for i in late
    }
    assert set(texts["cancellation_request"]) == {
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
    (failed,) = set(texts["sync_failed"])
    assert failed.startswith(f"main: orders sync run {refused.id} ended failed: ")
    assert "ERROR: Invalid vendor ip [127.0.0.1]" in failed
    assert set(texts["ip_refused"]) == {
        f"main: orders sync run {refused.id} was refused by eMAG: this server's IP is not "
        "whitelisted (add it in the eMAG Marketplace settings)"
    }
    (bulk,) = set(texts["bulk_failures"])
    assert bulk.startswith(f"bulk operation {operation['id']} ended ")
    assert "2 failed" in bulk
    # Nothing changed since: nothing is alerted again.
    assert await _delivered(ctx, receiver) == {}
    # The next refused run fails too, but the refusal is the same: no second IP alert.
    again = await sync(ctx, main, SyncKind.orders)
    assert set(await _delivered(ctx, receiver)) == {"sync_failed"}
    # The seller whitelists the IP, a run goes through; a new refusal is a new alert.
    await set_faults(sim)
    assert (await sync(ctx, main, SyncKind.orders)).status == "completed"
    await set_faults(sim, vendor_ip_refused=[main.username])
    later = await sync(ctx, main, SyncKind.orders)
    texts = await _delivered(ctx, receiver)
    assert set(texts) == {"sync_failed", "ip_refused"}
    assert [d["run_id"] for d in texts["ip_refused"].values()] == [later.id] != [again.id]
