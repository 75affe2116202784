"""The to-do facts come from the sync: the simulator serves eMAG's deadline fields and flags, the
order sync stores them, and an acknowledgement made outside MagFlow is seen by the next sync."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from magflow.context import AppContext
from magflow.emag.coerce import to_datetime
from magflow.emag.platforms import platform_info
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.intake import todo
from magflow.intake.deadlines import TodoKind
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from tests.orders.support import sim_control
from tests.support.simulation import Accounts, creds, read_everything, sync


@pytest.fixture
def sim_config() -> SimConfig:
    """Five days of orders: enough recent ones to be open, late or with a cancellation request."""
    tag = uuid.uuid4().hex[:8]
    return SimConfig(
        seed=5,
        offers=20,
        orders=150,
        history_days=5,
        accounts=[
            SimAccount(name="main", account_type="main", username=f"m-{tag}", password="pw-m"),
            SimAccount(name="fbe", account_type="fbe", username=f"f-{tag}", password="pw-f"),
        ],
    )


async def test_sync_stores_deadlines_flags_and_the_observed_acknowledgement(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    main = accounts.main
    await sync(ctx, main, SyncKind.orders)
    served = await read_everything(ctx, main, SyncKind.orders)
    async with ctx.db.session() as session:
        stored = {
            o.emag_id: o
            for o in (
                await session.execute(select(EmagOrder).where(EmagOrder.account_id == main.id))
            ).scalars()
        }
    tz = platform_info(main.platform).tz
    assert set(stored) == set(served)
    for emag_id, raw in served.items():
        order = stored[emag_id]
        assert order.maximum_date_for_shipment == to_datetime(raw["maximum_date_for_shipment"], tz)
        assert order.late_shipment is bool(raw["late_shipment"])
        assert order.cancellation_requested is bool(raw["cancellation_request"])
        assert order.has_invoice is any(a["type"] == 1 for a in raw["attachments"])
    # The simulator serves every case the to-do list knows.
    assert any(o.cancellation_requested and o.status in (1, 2, 3) for o in stored.values())
    assert any(o.late_shipment and o.status in (1, 2, 3) for o in stored.values())
    assert any(o.late_shipment and o.status == 4 for o in stored.values())
    assert any(o.status == 4 and o.has_invoice is False for o in stored.values())

    # A new order acknowledged in eMAG (not through MagFlow) is seen by the next sync.
    created = await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1})
    emag_id = int(created["created"][0])
    await sync(ctx, main, SyncKind.orders)
    async with ctx.emag_client(creds(ctx, main)) as client:
        await client.acknowledge_order(emag_id)
    await sync(ctx, main, SyncKind.orders)
    async with ctx.db.session() as session:
        order = (
            await session.execute(
                select(EmagOrder).where(
                    EmagOrder.account_id == main.id, EmagOrder.emag_id == emag_id
                )
            )
        ).scalar_one()
        found = await todo.todo_list(
            session, main, datetime.now(UTC), todo.rules_from(ctx.settings), limit=500
        )
    assert order.status == 2 and order.acknowledged_at is None
    assert order.ack_observed_at is not None and order.order_date is not None
    assert order.ack_observed_at >= order.order_date
    kinds = {t.kind for t in found.items}
    assert {TodoKind.SHIP, TodoKind.CANCELLATION_REQUEST, TodoKind.INVOICE_MISSING} <= kinds
    assert (TodoKind.SHIP, emag_id) in {(t.kind, t.emag_order_id) for t in found.items}
