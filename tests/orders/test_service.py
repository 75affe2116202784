"""``orders.service.store_orders``: the one place an order is stored, by the sync and by the
order actions; each order counts once in its customer's aggregates whoever stores it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from magflow.context import AppContext
from magflow.customers.models import EmagCustomer
from magflow.emag.codes import OrderStatus
from magflow.emag_sim import SimulatorServer
from magflow.orders import service
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from tests.factories import make_account
from tests.orders.support import Clients, sim_control
from tests.support.simulation import Accounts, sync

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
RAW: dict[str, Any] = {
    "id": "900001",
    "status": "1",
    "type": 3,
    "payment_mode_id": "1",
    "date": "2026-01-10 10:00:00",
    "customer": {"id": 99000001, "name": "Test Buyer", "phone_1": "0722 000 111"},
    "products": [{"status": 1, "quantity": "2", "sale_price": "10.00", "vat": "0.19"}],
    "shipping_tax": "5",
}


async def _customer(ctx: AppContext, key: str) -> EmagCustomer:
    async with ctx.db.session() as session:
        customer = (
            await session.execute(select(EmagCustomer).where(EmagCustomer.customer_key == key))
        ).scalar_one()
        return customer


async def test_storing_the_same_order_again_moves_its_customer_only_by_the_change(
    ctx: AppContext,
) -> None:
    account = await make_account(ctx, name="store", username="store-orders")

    async def store(raws: list[dict[str, Any]], run_id: int | None) -> service.StoredOrders:
        async with ctx.db.session() as session:
            stored = await service.store_orders(
                session,
                account_id=account.id,
                platform="ro",
                raw_orders=raws,
                now=NOW,
                run_id=run_id,
            )
            await session.commit()
            return stored

    assert await store([RAW], run_id=7) == service.StoredOrders(created=1, updated=0)
    customer = await _customer(ctx, "ro:id:99000001")
    # 2 x 10.00 x 1.19 + 5.00 shipping (VAT included)
    assert (customer.orders_count, customer.total_spent, customer.cod_count) == (
        1,
        Decimal("28.80"),
        1,
    )
    assert customer.name == "Test Buyer"

    # the same order again (a page written twice, a re-read after a write): nothing moves
    assert await store([RAW, {**RAW, "id": 900001}], run_id=None) == service.StoredOrders(0, 1)
    customer = await _customer(ctx, "ro:id:99000001")
    assert (customer.orders_count, customer.total_spent) == (1, Decimal("28.80"))

    # cancelled: still one order, no longer spent, one cancellation
    await store([{**RAW, "status": 0}], run_id=None)
    customer = await _customer(ctx, "ro:id:99000001")
    assert (customer.orders_count, customer.total_spent, customer.cancelled_count) == (
        1,
        Decimal(0),
        1,
    )
    async with ctx.db.session() as session:
        order = (
            await session.execute(select(EmagOrder).where(EmagOrder.account_id == account.id))
        ).scalar_one()
    assert [entry["status"] for entry in order.status_history or []] == [1, 0]
    assert order.last_seen_run_id == 7  # re-reads outside a run keep the run that saw it

    # rows without a readable id are not orders
    assert await store([{"status": 1}, {**RAW, "id": "x"}], run_id=None) == service.StoredOrders(
        0, 0
    )


async def _aggregates_match_the_orders(ctx: AppContext, key: str) -> None:
    async with ctx.db.session() as session:
        count, cancelled = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(EmagOrder.status == OrderStatus.CANCELLED),
                ).where(EmagOrder.customer_key == key)
            )
        ).one()
    customer = await _customer(ctx, key)
    assert (customer.orders_count, customer.cancelled_count) == (count, cancelled)


async def test_orders_written_through_actions_and_synced_again_count_once(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    created = await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1})
    await sync(ctx, accounts.main, SyncKind.orders)
    async with ctx.db.session() as session:
        order = (
            await session.execute(
                select(EmagOrder).where(
                    EmagOrder.account_id == accounts.main.id,
                    EmagOrder.emag_id == int(created["created"][0]),
                )
            )
        ).scalar_one()
    assert order.customer_key is not None
    await _aggregates_match_the_orders(ctx, order.customer_key)

    api = clients.operator
    assert (await api.post(f"/api/v1/emag/orders/{order.id}/acknowledge")).status_code == 200
    response = await api.post(
        f"/api/v1/emag/orders/{order.id}/status", json={"status": "cancelled", "reason": 2}
    )
    assert response.status_code == 200, response.text
    body = response.json()["order"]
    assert body["status"] == 0
    await _aggregates_match_the_orders(ctx, order.customer_key)
    assert (await _customer(ctx, order.customer_key)).cancelled_count >= 1

    await sync(ctx, accounts.main, SyncKind.orders)  # the sync stores the same orders again
    await _aggregates_match_the_orders(ctx, order.customer_key)
