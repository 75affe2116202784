"""Bulk operations are jobs: claimed in the database, paused by a shutdown, resumed without
sending anything twice (the simulator counts every offer change it applies)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from magflow.accounts.service import credentials
from magflow.app import create_app
from magflow.audit.service import Actor
from magflow.auth.models import Role
from magflow.bulk import service
from magflow.bulk.models import BulkOperation, BulkOperationItem, ItemStatus, OperationStatus
from magflow.bulk.runner import BulkRunner
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.settings import Settings
from tests.bulk.conftest import OfferWrites, wait_done
from tests.conftest import Backend
from tests.factories import make_user
from tests.orders.support import Clients, route_count, sim_offer, sim_stats, small_sim_config
from tests.support.auth import auth_headers
from tests.support.servers import UvicornThread
from tests.support.simulation import Accounts

# Pacing is not under test here: the simulator's limit and the client's limiter are off.


@pytest.fixture
def settings(settings: Settings, backend: Backend) -> Settings:
    return settings.model_copy(update={"emag_rate_limit": False})


@pytest.fixture
def sim_config() -> SimConfig:
    config = small_sim_config(offers=260, orders=5)
    config.rate_limit = False
    return config


def stock_of(emag_id: int) -> int:
    """A stock no generated offer has, so that a change is visible on eMAG."""
    return 5000 + emag_id


async def new_operation(ctx: AppContext, offers: range) -> BulkOperation:
    async with ctx.db.session() as session:
        op, created = await service.create_operation(
            session,
            [{"offer_id": n, "stock": stock_of(n)} for n in offers],
            actor=Actor(None, "test"),
            default_account="main",
        )
        await session.commit()
    assert created
    return op


async def set_operation(ctx: AppContext, op_id: int, **values: Any) -> None:
    async with ctx.db.session() as session:
        await session.execute(
            update(BulkOperation).where(BulkOperation.id == op_id).values(**values)
        )
        await session.commit()


async def set_items(ctx: AppContext, op_id: int, positions: range, status: ItemStatus) -> None:
    async with ctx.db.session() as session:
        await session.execute(
            update(BulkOperationItem)
            .where(
                BulkOperationItem.operation_id == op_id,
                BulkOperationItem.position.in_(list(positions)),
            )
            .values(status=status.value)
        )
        await session.commit()


async def items_by_status(ctx: AppContext, op_id: int) -> dict[str, list[int]]:
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(BulkOperationItem.status, BulkOperationItem.offer_emag_id)
            .where(BulkOperationItem.operation_id == op_id)
            .order_by(BulkOperationItem.position)
        )
        found: dict[str, list[int]] = {}
        for status, emag_id in rows.all():
            found.setdefault(status, []).append(emag_id)
        return found


async def operation(ctx: AppContext, op_id: int) -> BulkOperation:
    async with ctx.db.session() as session:
        op = await session.get(BulkOperation, op_id)
        assert op is not None
        return op


async def test_items_whose_answer_was_lost_are_read_back_before_anything_is_sent_again(
    ctx: AppContext,
    sim: SimulatorServer,
    synced_offers: Accounts,
    offer_writes: OfferWrites,
) -> None:
    """A process died holding the operation: offers 1-50 were sent and landed on eMAG, offers
    51-100 were marked ``sending`` but never left, 101-120 were still pending."""
    op = await new_operation(ctx, range(1, 121))
    landed = [{"id": n, "stock": [{"warehouse_id": 1, "value": stock_of(n)}]} for n in range(1, 51)]
    async with ctx.emag_client(credentials(ctx.cipher, synced_offers.main)) as client:
        result = await client.save_offers(landed)
    assert not result.failed
    await set_items(ctx, op.id, range(100), ItemStatus.sending)
    await set_operation(
        ctx,
        op.id,
        status=OperationStatus.running.value,
        worker_id="other-host:4242",
        heartbeat_at=datetime.now(UTC),
    )
    saves_before = route_count(await sim_stats(sim), "offer/save")

    # While its holder is alive, nobody else touches it.
    runner = BulkRunner(ctx)
    assert await runner.execute(op.id) == "claimed-elsewhere"
    assert route_count(await sim_stats(sim), "offer/save") == saves_before
    assert (await operation(ctx, op.id)).worker_id == "other-host:4242"

    # Its heartbeat goes stale: this process takes over.
    await set_operation(ctx, op.id, heartbeat_at=datetime.now(UTC) - timedelta(hours=1))
    assert await runner.execute(op.id) == "completed"

    assert offer_writes.of("main") == {n: 1 for n in range(1, 121)}
    for n in (1, 50, 51, 100, 101, 120):
        assert (await sim_offer(sim, n))["general_stock"] == stock_of(n)
    final = await operation(ctx, op.id)
    assert (final.succeeded_items, final.failed_items, final.pending_items) == (120, 0, 0)
    assert final.requests_sent == 2  # offers 51-120: two chunks; 1-50 were only read
    assert route_count(await sim_stats(sim), "offer/save") == saves_before + 2
    assert final.worker_id == runner.worker_id
    async with ctx.db.session() as session:
        items = (
            (
                await session.execute(
                    select(BulkOperationItem)
                    .where(BulkOperationItem.operation_id == op.id)
                    .order_by(BulkOperationItem.position)
                )
            )
            .scalars()
            .all()
        )
    assert all(i.attempts == 1 for i in items)
    assert all("confirmed by reading eMAG" in (i.messages or [""])[0] for i in items[:50])
    assert all(i.messages == [f"Offer {i.offer_emag_id} updated successfully"] for i in items[50:])


async def test_a_retry_is_refused_while_another_process_holds_the_operation(
    ctx: AppContext,
    sim: SimulatorServer,
    synced_offers: Accounts,
    clients: Clients,
    offer_writes: OfferWrites,
) -> None:
    op = await new_operation(ctx, range(1, 61))
    await set_items(ctx, op.id, range(60), ItemStatus.failed)
    await set_operation(
        ctx,
        op.id,
        status=OperationStatus.running.value,
        worker_id="other-host:4242",
        heartbeat_at=datetime.now(UTC),
    )
    busy = await clients.operator.post(f"/api/v1/emag/bulk/operations/{op.id}/retry")
    assert busy.status_code == 409, busy.text
    assert "still running" in busy.json()["detail"]
    assert (await items_by_status(ctx, op.id)) == {"failed": list(range(1, 61))}

    # The holder finished (with every item failed): now a retry is taken, by this process.
    await set_operation(ctx, op.id, status=OperationStatus.completed_with_errors.value)
    retry = await clients.operator.post(f"/api/v1/emag/bulk/operations/{op.id}/retry")
    assert retry.status_code == 202, retry.text
    done = await wait_done(clients.operator, op.id)
    assert (done["status"], done["succeeded_items"], done["attempts"]) == ("completed", 60, 1)
    assert offer_writes.of("main") == {n: 1 for n in range(1, 61)}
    final = await operation(ctx, op.id)
    assert final.worker_id != "other-host:4242"
    assert (
        final.requested_by_email == (await clients.operator.get("/api/v1/auth/me")).json()["email"]
    )


async def test_a_shutdown_pauses_the_operation_and_the_next_start_resumes_it(
    ctx: AppContext,
    settings: Settings,
    sim: SimulatorServer,
    synced_offers: Accounts,
    offer_writes: OfferWrites,
) -> None:
    """The app stops while a chunk is at eMAG (applied there, answer not received): nothing is
    failed, the claim is given back, and the next start finishes the operation, sending each
    change once."""
    user = await make_user(ctx, role=Role.operator)
    offer_writes.hold_after(100)  # the second chunk lands, then the simulator holds its answer
    items = [{"offer_id": n, "account": "main", "stock": stock_of(n)} for n in range(1, 201)]
    first = UvicornThread(create_app(settings)).__enter__()
    try:
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as api:
            api.headers.update(await auth_headers(api, user.email))
            response = await api.post("/api/v1/emag/bulk/offers", json={"items": items})
            assert response.status_code == 202, response.text
            op_id = response.json()["id"]
        await offer_writes.wait_held()
    finally:
        await asyncio.to_thread(first.__exit__, None, None, None)
    offer_writes.release()

    paused = await operation(ctx, op_id)
    assert paused.status == "running" and paused.worker_id is None
    statuses = await items_by_status(ctx, op_id)
    assert statuses == {
        "succeeded": list(range(1, 51)),
        "sending": list(range(51, 101)),
        "pending": list(range(101, 201)),
    }

    with UvicornThread(create_app(settings)) as second:
        async with httpx.AsyncClient(base_url=second.url, timeout=30) as api:
            api.headers.update(await auth_headers(api, user.email))
            done = await wait_done(api, op_id)
    assert done["status"] == "completed", done
    assert (done["succeeded_items"], done["failed_items"], done["pending_items"]) == (200, 0, 0)
    assert offer_writes.of("main") == {n: 1 for n in range(1, 201)}
    assert done["requests_sent"] == 3  # chunk 1 before the stop, chunks 3-4 after
    for n in (1, 51, 100, 101, 200):
        assert (await sim_offer(sim, n))["general_stock"] == stock_of(n)


async def test_prices_handling_time_and_status_are_confirmed_on_emag_too(
    ctx: AppContext,
    sim: SimulatorServer,
    synced_offers: Accounts,
    offer_writes: OfferWrites,
) -> None:
    """Offers 1-10 got a new price, handling time and status before their process died (landed,
    unrecorded); 11-20 never left. Only 11-20 are sent."""
    async with ctx.db.session() as session:
        offers = {
            o.emag_id: o
            for o in (
                await session.execute(
                    select(EmagOffer).where(EmagOffer.account_id == synced_offers.main.id)
                )
            ).scalars()
        }
    items = []
    for n in range(1, 21):
        low, current = offers[n].min_sale_price, offers[n].sale_price
        assert low is not None and current is not None
        price = ((low + current) / 2).quantize(Decimal("0.01"))  # below the recommended price
        assert price != current
        items.append({"offer_id": n, "sale_price": str(price), "handling_time": 7, "status": 0})
    async with ctx.db.session() as session:
        op, _ = await service.create_operation(
            session, items, actor=Actor(None, "test"), default_account="main"
        )
        await session.commit()
        payloads = {
            i.offer_emag_id: i.payload
            for i in (
                await session.execute(
                    select(BulkOperationItem).where(BulkOperationItem.operation_id == op.id)
                )
            ).scalars()
        }
    async with ctx.emag_client(credentials(ctx.cipher, synced_offers.main)) as client:
        assert not (await client.save_offers([payloads[n] for n in range(1, 11)])).failed
    await set_items(ctx, op.id, range(20), ItemStatus.sending)
    await set_operation(ctx, op.id, status=OperationStatus.running.value)

    assert await BulkRunner(ctx).execute(op.id) == "completed"
    assert offer_writes.of("main") == {n: 1 for n in range(1, 21)}
    assert (await operation(ctx, op.id)).requests_sent == 1
    for n in (1, 20):
        on_emag = await sim_offer(sim, n)
        assert Decimal(str(on_emag["sale_price"])) == Decimal(items[n - 1]["sale_price"])
        assert on_emag["handling_time"] == [{"warehouse_id": 1, "value": 7}]
        assert on_emag["status"] == 0
