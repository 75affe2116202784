"""The bulk service called directly, in process (issue 19's mutation run found these unasserted).

Creating an operation, queueing it again, the stock buffer and the operation's view need only
the database; ``update_stock`` talks to the simulator (one small one, nothing synced: the local
offer is written here). Each test asserts what a user reads back (the items' payloads and
reasons, the counters) or what eMAG receives.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from magflow.accounts.models import EmagAccount
from magflow.audit.models import AuditLog
from magflow.audit.service import Actor
from magflow.bulk import service
from magflow.bulk.models import BulkOperation, BulkOperationItem, OperationStatus
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.settings import Settings
from tests.conftest import Backend
from tests.factories import make_account
from tests.orders.support import sim_offer, small_sim_config
from tests.support.simulation import Accounts

CREATOR = Actor(11, "creator@example.com")
RETRIER = Actor(12, "retrier@example.com")


@pytest.fixture
def settings(settings: Settings, backend: Backend) -> Settings:
    return settings.model_copy(update={"emag_rate_limit": False})


@pytest.fixture
def sim_config() -> SimConfig:
    config = small_sim_config(offers=20, orders=1)
    config.rate_limit = False
    return config


async def configure(
    ctx: AppContext, account: EmagAccount, *, stock_buffer: int = 0, warehouse_id: int = 1
) -> None:
    async with ctx.db.session() as session:
        await session.execute(
            update(EmagAccount)
            .where(EmagAccount.id == account.id)
            .values(stock_buffer=stock_buffer, warehouse_id=warehouse_id)
        )
        await session.commit()


async def add_offer(ctx: AppContext, account: EmagAccount, emag_id: int, **values: Any) -> int:
    async with ctx.db.session() as session:
        offer = EmagOffer(
            account_id=account.id,
            emag_id=emag_id,
            raw={},
            last_seen_at=datetime.now(UTC),
            **values,
        )
        session.add(offer)
        await session.commit()
        return offer.id


PRICES = {
    "sale_price": Decimal(50),
    "min_sale_price": Decimal(40),
    "max_sale_price": Decimal(60),
    "recommended_price": Decimal(70),
}


async def create(
    ctx: AppContext, items: list[dict[str, Any]], **kwargs: Any
) -> tuple[BulkOperation, bool]:
    async with ctx.db.session() as session:
        op, created = await service.create_operation(session, items, actor=CREATOR, **kwargs)
        await session.commit()
        return op, created


async def items_of(ctx: AppContext, op_id: int) -> list[BulkOperationItem]:
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(BulkOperationItem)
            .where(BulkOperationItem.operation_id == op_id)
            .order_by(BulkOperationItem.position)
        )
        return list(rows.scalars())


async def operations(ctx: AppContext) -> list[BulkOperation]:
    async with ctx.db.session() as session:
        return list((await session.execute(select(BulkOperation))).scalars())


# --- creating an operation -----------------------------------------------------------------------


async def test_each_item_is_stored_with_its_payload_or_its_reasons(ctx: AppContext) -> None:
    main = await make_account(ctx, name="main")
    second = await make_account(ctx, name="second")
    await configure(ctx, main, stock_buffer=2, warehouse_id=3)
    offer_1 = await add_offer(ctx, main, 1, **PRICES)
    offer_2 = await add_offer(ctx, main, 2)
    offer_3 = await add_offer(ctx, main, 3, **PRICES)
    second_1 = await add_offer(ctx, second, 1)
    long_name = "x" * 100
    items: list[dict[str, Any]] = [
        {"offer_id": 1, "account": "main", "stock": 10, "sale_price": "55.5"},
        {"offer_id": "2", "handling_time": 3},  # the request's account
        {"offer_id": 1, "account": f" {second.id} ", "stock": 1, "status": "0", "vat_id": 4},
        {"offer_id": 1, "account": "main", "stock": 4},  # offer 1 of main again
        {"offer_id": 999, "account": "main", "stock": "4", "sale_price": "1,5"},
        {"offer_id": 2, "account": "nobody", "stock": 1},
        {"account": "main", "stock": "abc"},
        {"offer_id": "x", "account": "main", "stock": 1},
        {"offer_id": 3, "account": "main", "sale_price": "30", "stock": "", "status": None},
        {"offer_id": 0, "account": long_name, "stock": 1},
    ]
    op, created = await create(ctx, items, default_account="main", source="csv")
    assert created
    assert (op.kind, op.status, op.source) == ("offers", "queued", "csv")
    assert (op.created_by_id, op.created_by_email, op.idempotency_key) == (
        11,
        "creator@example.com",
        None,
    )
    assert (op.requested_by_id, op.requested_by_email) == (11, "creator@example.com")
    assert (op.total_items, op.pending_items, op.invalid_items) == (10, 3, 7)
    assert (op.succeeded_items, op.failed_items) == (0, 0)

    stored = await items_of(ctx, op.id)
    assert [i.position for i in stored] == list(range(10))
    assert [i.status for i in stored] == ["pending"] * 3 + ["invalid"] * 7
    assert [i.messages for i in stored] == [
        [],
        [],
        [],
        ["offer 1 of account main is already changed by item 0"],
        ["offer 999 does not exist locally for account main"],
        ["no eMAG account named or numbered 'nobody'"],
        ["offer_id is missing", "stock must be a whole number (no decimals), got 'abc'"],
        ["offer_id must be a whole number (no decimals), got 'x'"],
        ["sale_price 30 is lower than min_sale_price 40.0000"],
        [
            f"no eMAG account named or numbered {long_name!r}",
            "offer_id should be 1 or more",
        ],
    ]
    # What eMAG will receive: the account's buffer and warehouse applied.
    assert [i.payload for i in stored] == [
        {"id": 1, "sale_price": 55.5, "stock": [{"warehouse_id": 3, "value": 8}]},
        {"id": 2, "handling_time": [{"warehouse_id": 3, "value": 3}]},
        {"id": 1, "stock": [{"warehouse_id": 1, "value": 1}], "status": 0, "vat_id": 4},
        *[None] * 7,
    ]
    # What was asked: normalised when valid, the given (non-blank) cells as given when not (the
    # user reads what to correct).
    assert [i.changes for i in stored] == [
        {"sale_price": "55.5", "stock": 10},
        {"handling_time": 3},
        {"stock": 1, "status": 0, "vat_id": 4},
        {"stock": 4},
        {"sale_price": "1,5", "stock": "4"},
        {"stock": 1},
        {"stock": "abc"},
        {"stock": 1},
        {"sale_price": "30"},
        {"stock": 1},
    ]
    assert [(i.account_id, i.offer_emag_id, i.offer_id) for i in stored] == [
        (main.id, 1, offer_1),
        (main.id, 2, offer_2),
        (second.id, 1, second_1),
        (main.id, 1, offer_1),
        (main.id, 999, None),
        (None, 2, None),
        (main.id, None, None),
        (main.id, None, None),
        (main.id, 3, offer_3),
        (None, None, None),
    ]
    assert [i.account_ref for i in stored] == [
        "main",
        "main",
        f" {second.id} ",
        "main",
        "main",
        "nobody",
        "main",
        "main",
        "main",
        "x" * 64,  # the column's width
    ]
    assert all(i.attempts == 0 and i.updated_at is not None for i in stored)


async def test_items_without_an_account_or_a_possible_offer_id_are_refused(
    ctx: AppContext,
) -> None:
    main = await make_account(ctx, name="main")
    await add_offer(ctx, main, 1)
    items: list[dict[str, Any]] = [
        {"offer_id": 1, "stock": 1},
        {"offer_id": 1, "account": "main"},
        {"offer_id": 2**53, "account": "main", "stock": 1},  # the largest exact JSON number
        {"offer_id": 2**53 + 1, "account": "main", "stock": 1},
    ]
    op, _ = await create(ctx, items)
    stored = await items_of(ctx, op.id)
    assert [i.messages for i in stored] == [
        ["account is missing (give it per item or for the whole request)"],
        [
            "nothing to change: give at least one of sale_price, min_sale_price, "
            "max_sale_price, recommended_price, stock, handling_time, status, vat_id"
        ],
        [f"offer {2**53} does not exist locally for account main"],
        [f"offer_id should be at most {2**53}"],
    ]
    assert [(i.account_ref, i.account_id, i.offer_emag_id, i.payload) for i in stored] == [
        (None, None, 1, None),
        ("main", main.id, 1, None),
        ("main", main.id, 2**53, None),
        ("main", main.id, None, None),
    ]
    assert (op.total_items, op.invalid_items, op.pending_items) == (4, 4, 0)


async def test_the_stored_prices_stand_in_for_those_an_item_leaves_alone(ctx: AppContext) -> None:
    main = await make_account(ctx, name="main")
    for n in range(1, 5):
        await add_offer(ctx, main, n, **PRICES)
    await add_offer(ctx, main, 5)  # no prices known
    # (stored prices read back with the column's 4 decimals, as the messages show them)
    items: list[dict[str, Any]] = [
        {"offer_id": 1, "min_sale_price": "55"},
        {"offer_id": 2, "sale_price": "65"},
        {"offer_id": 3, "sale_price": "75", "max_sale_price": "80"},
        {"offer_id": 4, "sale_price": "45", "min_sale_price": "41"},
        {"offer_id": 5, "sale_price": "30"},
    ]
    op, _ = await create(ctx, items, default_account="main")
    stored = await items_of(ctx, op.id)
    assert [i.messages for i in stored] == [
        ["sale_price 50.0000 is lower than min_sale_price 55"],
        ["sale_price 65 is greater than max_sale_price 60.0000"],
        ["recommended_price 70.0000 must be greater than sale_price 75"],
        [],
        [],
    ]
    assert [i.payload for i in stored][3:] == [
        {"id": 4, "sale_price": 45, "min_sale_price": 41},
        {"id": 5, "sale_price": 30},
    ]


async def test_at_most_ten_thousand_items(ctx: AppContext) -> None:
    await make_account(ctx, name="main")
    with pytest.raises(ValueError, match="at most 10000 items per operation, got 10001"):
        await create(ctx, [{"offer_id": 1}] * 10_001, default_account="main")
    assert await operations(ctx) == []
    op, created = await create(ctx, [{"offer_id": 1}] * 10_000, default_account="main")
    assert created and (op.total_items, op.invalid_items) == (10_000, 10_000)


# The 409's detail, as the client reads it.
CONFLICT = "this Idempotency-Key was used for a different request"


async def test_an_idempotency_key_names_one_request(ctx: AppContext) -> None:
    main = await make_account(ctx, name="main")
    await make_account(ctx, name="other")
    await add_offer(ctx, main, 1)
    items = [{"offer_id": 1, "stock": 5}]
    first, created = await create(ctx, items, default_account="main", idempotency_key="k-1")
    assert created and first.idempotency_key == "k-1"
    assert first.request_hash == service.request_hash(items, "main")
    # The same request: the same operation, nothing new stored.
    again, created = await create(
        ctx, [{"stock": 5, "offer_id": 1}], default_account="main", idempotency_key="k-1"
    )
    assert (again.id, created) == (first.id, False)
    # Another request with that key is refused: other items, or the same for another account.
    for other_items, account in (([{"offer_id": 1, "stock": 6}], "main"), (items, "other")):
        with pytest.raises(service.IdempotencyConflictError, match=f"^{CONFLICT}$"):
            await create(ctx, other_items, default_account=account, idempotency_key="k-1")
    # An upload passes its own fingerprint, which decides the same way.
    upload, created = await create(ctx, items, idempotency_key="k-2", fingerprint="f" * 64)
    assert created and upload.request_hash == "f" * 64
    with pytest.raises(service.IdempotencyConflictError, match=f"^{CONFLICT}$"):
        await create(ctx, items, idempotency_key="k-2", fingerprint="e" * 64)
    same, created = await create(ctx, [], idempotency_key="k-2", fingerprint="f" * 64)
    assert (same.id, created) == (upload.id, False)
    # No key (or an empty one): every request is an operation of its own.
    one, _ = await create(ctx, items, default_account="main", idempotency_key="")
    two, _ = await create(ctx, items, default_account="main", idempotency_key="")
    assert one.id != two.id and one.idempotency_key is None and two.idempotency_key is None
    assert len(await operations(ctx)) == 4


def test_the_request_fingerprint() -> None:
    """Stored with the operation and compared with a later request's: it must not depend on the
    order of an item's keys (a CSV's column order), and must stay the same from one release to
    the next (a client retrying across an upgrade sends the same request)."""
    items = [{"offer_id": 1, "stock": 5, "sale_price": Decimal("9.5")}]
    reordered = [{"sale_price": Decimal("9.5"), "stock": 5, "offer_id": 1}]
    assert service.request_hash(items, "main") == service.request_hash(reordered, "main")
    assert service.request_hash(items, "main") != service.request_hash(items, "other")
    assert service.request_hash(items) != service.request_hash(items, "main")
    canonical = '[[{"offer_id":1,"sale_price":"9.5","stock":5}],"main"]'
    assert service.request_hash(items, "main") == hashlib.sha256(canonical.encode()).hexdigest()


# --- the operation's view ------------------------------------------------------------------------


def test_the_operation_view_counts_every_answered_item_as_processed() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    op = BulkOperation(
        id=7,
        kind="offers",
        status="running",
        source="xlsx",
        idempotency_key="key",
        created_by_email="a@example.com",
        total_items=20,
        invalid_items=2,
        pending_items=5,
        succeeded_items=10,
        failed_items=3,
        requests_sent=4,
        attempts=2,
        error="boom",
        created_at=created,
        started_at=created + timedelta(seconds=1),
        finished_at=created + timedelta(seconds=2),
    )
    assert service.operation_view(op) == {
        "id": 7,
        "kind": "offers",
        "status": "running",
        "source": "xlsx",
        "idempotency_key": "key",
        "created_by": "a@example.com",
        "total_items": 20,
        "invalid_items": 2,
        "pending_items": 5,
        "succeeded_items": 10,
        "failed_items": 3,
        "processed_items": 15,
        "requests_sent": 4,
        "attempts": 2,
        "error": "boom",
        "created_at": created,
        "started_at": created + timedelta(seconds=1),
        "finished_at": created + timedelta(seconds=2),
    }


def test_counts_items_not_answered_yet_as_pending() -> None:
    op = BulkOperation()
    service.apply_counts(
        op, {"invalid": 1, "pending": 2, "sending": 3, "succeeded": 4, "failed": 5}
    )
    counted = (op.invalid_items, op.pending_items, op.succeeded_items, op.failed_items)
    assert (counted, op.total_items) == ((1, 5, 4, 5), 15)
    service.apply_counts(op, {"succeeded": 2})
    counted = (op.invalid_items, op.pending_items, op.succeeded_items, op.failed_items)
    assert (counted, op.total_items) == ((0, 0, 2, 0), 2)


# --- queueing again ------------------------------------------------------------------------------


async def an_operation(ctx: AppContext, *statuses: str, op_status: str, **values: Any) -> int:
    """An operation whose items (one per status, the last one invalid) and own status are set as
    a run would have left them."""
    main = await make_account(ctx, name="main")
    for n in range(1, len(statuses) + 1):
        await add_offer(ctx, main, n)
    items: list[dict[str, Any]] = [{"offer_id": n, "stock": n} for n in range(1, len(statuses))]
    op, _ = await create(ctx, [*items, {"offer_id": len(statuses)}], default_account="main")
    async with ctx.db.session() as session:
        for position, status in enumerate(statuses):
            await session.execute(
                update(BulkOperationItem)
                .where(
                    BulkOperationItem.operation_id == op.id,
                    BulkOperationItem.position == position,
                )
                .values(status=status)
            )
        await session.execute(
            update(BulkOperation)
            .where(BulkOperation.id == op.id)
            .values(status=op_status, **values)
        )
        await session.commit()
    return op.id


async def retry(ctx: AppContext, op_id: int, stale_seconds: float = 60) -> BulkOperation:
    async with ctx.db.session() as session:
        op = await service.prepare_retry(session, op_id, actor=RETRIER, stale_seconds=stale_seconds)
        await session.commit()
        return op


async def test_a_retry_queues_the_failed_items_again(ctx: AppContext) -> None:
    now = datetime.now(UTC)
    op_id = await an_operation(
        ctx,
        "failed",
        "succeeded",
        "failed",
        "invalid",
        op_status=OperationStatus.completed_with_errors.value,
        started_at=now,
        finished_at=now,
        worker_id="w-1",
        heartbeat_at=now,
    )
    op = await retry(ctx, op_id)
    assert (op.status, op.finished_at, op.worker_id, op.heartbeat_at) == (
        "queued",
        None,
        None,
        None,
    )
    assert (op.requested_by_id, op.requested_by_email) == (12, "retrier@example.com")
    assert (op.created_by_email, op.total_items) == ("creator@example.com", 4)
    assert (op.pending_items, op.failed_items, op.succeeded_items, op.invalid_items) == (2, 0, 1, 1)
    assert [i.status for i in await items_of(ctx, op_id)] == [
        "pending",
        "succeeded",
        "pending",
        "invalid",
    ]
    # Queued now: a second retry waits for it.
    with pytest.raises(service.OperationBusyError, match=f"bulk operation {op_id} is still queued"):
        await retry(ctx, op_id)


async def test_a_retry_of_an_operation_without_failed_items_is_refused(ctx: AppContext) -> None:
    op_id = await an_operation(ctx, "succeeded", "invalid", op_status="completed_with_errors")
    with pytest.raises(
        service.OperationBusyError, match=f"bulk operation {op_id} has no failed item to retry"
    ):
        await retry(ctx, op_id)
    with pytest.raises(service.OperationNotFoundError, match="no bulk operation 999"):
        await retry(ctx, 999)


async def test_a_running_operation_is_queued_again_only_once_its_holder_went_quiet(
    ctx: AppContext,
) -> None:
    """Items left ``sending`` or ``pending`` by a process that died are taken along (they count
    as pending) even when none failed."""
    quiet_since = datetime.now(UTC) - timedelta(seconds=30)
    op_id = await an_operation(
        ctx,
        "succeeded",
        "sending",
        "pending",
        "invalid",
        op_status="running",
        worker_id="w-1",
        heartbeat_at=quiet_since,
    )
    with pytest.raises(service.OperationBusyError, match="is still running"):
        await retry(ctx, op_id, stale_seconds=60)
    assert [i.status for i in await items_of(ctx, op_id)][:3] == ["succeeded", "sending", "pending"]
    op = await retry(ctx, op_id, stale_seconds=20)
    assert (op.status, op.worker_id) == ("queued", None)
    assert (op.pending_items, op.succeeded_items, op.invalid_items, op.total_items) == (2, 1, 1, 4)


@pytest.mark.parametrize("unanswered", ["pending", "sending"])
async def test_an_operation_left_with_unanswered_items_only_is_queued_again(
    ctx: AppContext, unanswered: str
) -> None:
    """Its process died with items not sent (``pending``) or not answered (``sending``), none
    failed: a retry takes them up."""
    quiet_since = datetime.now(UTC) - timedelta(seconds=120)
    op_id = await an_operation(
        ctx,
        "succeeded",
        unanswered,
        "invalid",
        op_status="running",
        worker_id="w-1",
        heartbeat_at=quiet_since,
    )
    op = await retry(ctx, op_id)
    assert (op.status, op.pending_items, op.succeeded_items, op.invalid_items) == (
        "queued",
        1,
        1,
        1,
    )
    assert [i.status for i in await items_of(ctx, op_id)] == ["succeeded", unanswered, "invalid"]


# --- stock -------------------------------------------------------------------------------------


async def test_the_stock_buffer_is_never_negative(ctx: AppContext) -> None:
    main = await make_account(ctx, name="main")
    for ref, buffer, expected in (("main", 5, 5), (main.id, -3, 0), (str(main.id), 0, 0)):
        async with ctx.db.session() as session:
            account = await service.set_stock_buffer(session, ref, buffer)
            await session.commit()
        assert (account.id, account.stock_buffer) == (main.id, expected)
        async with ctx.db.session() as session:
            stored = await session.get(EmagAccount, main.id)
            assert stored is not None and stored.stock_buffer == expected


async def test_a_stock_update_publishes_the_stock_minus_the_buffer(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    main = accounts.main
    await configure(ctx, main, stock_buffer=2, warehouse_id=3)
    offer_id = await add_offer(ctx, main, 12, stock_total=99, general_stock=99)
    other_id = await add_offer(ctx, main, 13, stock_total=99, general_stock=99)
    user = Actor(5, "op@example.com")

    async with ctx.db.session() as session:
        result = await service.update_stock(ctx, session, user, offer_id, 7)
        await session.commit()
    assert (result.requested, result.published) == (7, 5)
    assert (result.offer.id, result.offer.stock_total, result.offer.general_stock) == (
        offer_id,
        5,
        5,
    )
    assert result.offer.stock == [{"warehouse_id": 3, "value": 5}]
    assert (await sim_offer(sim, 12))["general_stock"] == 5
    async with ctx.db.session() as session:
        stored = await session.get(EmagOffer, offer_id)
        other = await session.get(EmagOffer, other_id)
        assert stored is not None and other is not None
        assert (stored.stock_total, stored.general_stock) == (5, 5)
        assert (other.stock_total, other.general_stock) == (99, 99)  # only that offer
        entries = list((await session.execute(select(AuditLog))).scalars())
    assert [
        (
            e.action,
            e.emag_route,
            e.http_method,
            e.request,
            e.status_code,
            e.success,
            e.messages,
            e.target,
            e.account_id,
            e.account_name,
            e.user_email,
        )
        for e in entries
    ] == [
        (
            "offers.stock",
            "offer_stock/12",
            "PATCH",
            {"stock": 5},
            204,
            True,
            [],
            "offer:12",
            main.id,
            "main",
            "op@example.com",
        )
    ]

    # A buffer larger than the stock publishes 0, not a negative figure.
    async with ctx.db.session() as session:
        result = await service.update_stock(ctx, session, user, other_id, 1)
        await session.commit()
    assert (result.requested, result.published, result.offer.stock_total) == (1, 0, 0)
    assert (await sim_offer(sim, 13))["general_stock"] == 0

    async with ctx.db.session() as session:
        with pytest.raises(service.OfferNotFoundError, match="no offer 999999"):
            await service.update_stock(ctx, session, user, 999_999, 1)
