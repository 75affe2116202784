"""Callback intake behaviour the mutation run found unasserted (issue 19): what one callback
records and whether it asks for the account's job (``service.receive``, every state an order's
intake row can be in), the account's secret and URLs, the limit on unknown secrets (on a clock of
the test's own), and which stored orders are acknowledged (``IntakeWorker._decide``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.accounts.schemas import AccountUpdate
from magflow.audit.models import AuditLog
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag.errors import IP_WHITELIST_HINT
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.emag_sim.state import ORDER_ID_BASE, RMA_ID_BASE
from magflow.intake import repository, service, throttle
from magflow.intake.models import RETURNS_DUE, IntakePoll, IntakeState, OrderIntake
from magflow.intake.service import CallbackKind, Received
from magflow.intake.throttle import CallbackLimits, UnknownSecretThrottle
from magflow.intake.work import (
    IntakeWorker,
    accounts_to_poll,
    due_accounts,
    read_new_orders,
    read_orders,
    refresh_offer,
)
from magflow.jobs.schedule import IP_REFUSAL_PAUSE
from magflow.orders.models import EmagOrder
from magflow.pricing.models import OfferHistory
from magflow.returns.models import EmagReturn
from magflow.sync import service as sync_service
from magflow.sync.models import SyncKind, SyncMode
from tests.factories import make_account
from tests.intake.support import intake_rows
from tests.orders.support import route_count, sim_control, sim_stats
from tests.support.simulation import Accounts, creds, set_faults

ORDER = 7001
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

# -- receive: what a callback records, and whether it asks for a job ------------------------------
# One transaction per callback, as the endpoint does.


async def receive(
    ctx: AppContext, account: EmagAccount, kind: CallbackKind, when: datetime, order: int = ORDER
) -> Received:
    async with ctx.db.session() as session:
        got = await service.receive(session, account, kind, order, when)
        await session.commit()
    return got


async def row_of(ctx: AppContext, account: EmagAccount, order: int = ORDER) -> OrderIntake:
    async with ctx.db.session() as session:
        return (await repository.states(session, account.id, [order]))[order]


async def finish(ctx: AppContext, account: EmagAccount, state: IntakeState, outcome: str) -> None:
    async with ctx.db.session() as session:
        await repository.finish(session, account.id, ORDER, state=state, outcome=outcome, now=NOW)
        await session.commit()


QUEUED = Received(recorded=True, enqueue=True)
WAITS = Received(recorded=True, enqueue=False)  # recorded; no job asked for
HANDLED = Received(recorded=False, enqueue=False)  # "already handled"


async def test_a_new_order_is_recorded_once_and_its_repeats_ask_for_a_job_only_when_due(
    ctx: AppContext,
) -> None:
    account = await make_account(ctx)
    assert await receive(ctx, account, CallbackKind.order, NOW) == QUEUED
    row = await row_of(ctx, account)
    assert (row.state, row.source, row.outcome) == ("pending", "callback:order", None)
    # eMAG's repeat at the same instant: the order is due now and nobody works on it (the job
    # asked for may have been lost), so the job is asked for again.
    assert await receive(ctx, account, CallbackKind.order, NOW) == QUEUED
    # Before it is due (a retry waits), a repeat asks for nothing: the timer dispatches it.
    early = NOW - timedelta(seconds=1)
    assert await receive(ctx, account, CallbackKind.order, early) == WAITS
    # Claimed by a job: that job reads it; repeats and other events ask for nothing.
    async with ctx.db.session() as session:
        stale = NOW - timedelta(hours=1)
        assert await repository.claim(session, account.id, "w1", NOW, stale, 10) == [ORDER]
        await session.commit()
    for kind in (CallbackKind.order, CallbackKind.cancellation, CallbackKind.awb):
        assert await receive(ctx, account, kind, NOW) == WAITS, kind
    row = await row_of(ctx, account)
    assert (row.state, row.claimed_by, row.outcome) == ("pending", "w1", None)
    # Handled: the repeats that come until eMAG sees the acknowledgement change nothing.
    await finish(ctx, account, IntakeState.done, "acknowledged")
    for when in (early, NOW, NOW + timedelta(hours=1)):
        assert await receive(ctx, account, CallbackKind.order, when) == HANDLED
    row = await row_of(ctx, account)
    assert (row.state, row.outcome) == ("done", "acknowledged")
    # so are those of an order eMAG did not know
    await finish(ctx, account, IntakeState.unknown, "unknown")
    assert await receive(ctx, account, CallbackKind.order, NOW) == HANDLED
    assert (await row_of(ctx, account)).state == "unknown"


@pytest.mark.parametrize("kind", [CallbackKind.cancellation, CallbackKind.awb])
async def test_an_event_of_a_handled_order_makes_it_read_again(
    ctx: AppContext, kind: CallbackKind
) -> None:
    account = await make_account(ctx)
    await receive(ctx, account, CallbackKind.order, NOW)
    await finish(ctx, account, IntakeState.done, "stored")
    later = NOW + timedelta(minutes=5)
    assert await receive(ctx, account, kind, later) == QUEUED
    row = await row_of(ctx, account)
    assert (row.state, row.outcome, row.next_attempt_at) == ("pending", None, later)
    # an order eMAG did not know, named again by an event: read again too
    await finish(ctx, account, IntakeState.unknown, "unknown")
    assert await receive(ctx, account, kind, later) == QUEUED
    assert (await row_of(ctx, account)).state == "pending"


async def test_an_event_of_a_pending_order_asks_for_a_job_only_when_it_is_due(
    ctx: AppContext,
) -> None:
    account = await make_account(ctx)
    await receive(ctx, account, CallbackKind.order, NOW)
    early = NOW - timedelta(seconds=30)
    for kind in (CallbackKind.cancellation, CallbackKind.awb):
        assert await receive(ctx, account, kind, early) == WAITS, kind
        assert await receive(ctx, account, kind, NOW) == QUEUED, kind
    row = await row_of(ctx, account)
    assert (row.state, row.next_attempt_at, row.outcome) == ("pending", NOW, None)


async def test_a_return_callback_has_the_orders_returns_read_once_per_event(
    ctx: AppContext,
) -> None:
    account = await make_account(ctx)
    # A return of an order MagFlow never saw: a pending row marked for its returns.
    assert await receive(ctx, account, CallbackKind.return_, NOW) == QUEUED
    row = await row_of(ctx, account)
    assert (row.state, row.outcome, row.source) == ("pending", RETURNS_DUE, "callback:return")
    # eMAG's repeats while it is pending and marked: nothing more
    assert await receive(ctx, account, CallbackKind.return_, NOW) == WAITS
    # Handled; then the return's status changes: pending, marked and the job asked for.
    await finish(ctx, account, IntakeState.done, "stored")
    later = NOW + timedelta(minutes=1)
    assert await receive(ctx, account, CallbackKind.return_, later) == QUEUED
    row = await row_of(ctx, account)
    assert (row.state, row.outcome, row.next_attempt_at) == ("pending", RETURNS_DUE, later)

    # A return callback for a pending order not yet marked (its new-order callback came first):
    # marked, and the job asked for when the order is due and free.
    other, third = ORDER + 1, ORDER + 2
    await receive(ctx, account, CallbackKind.order, NOW, other)
    assert await receive(ctx, account, CallbackKind.return_, NOW, other) == QUEUED
    assert (await row_of(ctx, account, other)).outcome == RETURNS_DUE
    await receive(ctx, account, CallbackKind.order, NOW, third)
    early = NOW - timedelta(seconds=5)
    assert await receive(ctx, account, CallbackKind.return_, early, third) == WAITS
    row = await row_of(ctx, account, third)
    assert (row.state, row.outcome) == ("pending", RETURNS_DUE)


async def test_a_disabled_accounts_callbacks_are_recorded_but_ask_for_no_job(
    ctx: AppContext,
) -> None:
    account = await make_account(ctx)
    async with ctx.db.session() as session:
        account = await accounts_service.update_account(
            session, account.id, AccountUpdate(is_active=False)
        )
        await session.commit()
    assert await receive(ctx, account, CallbackKind.order, NOW) == WAITS
    assert await receive(ctx, account, CallbackKind.order, NOW) == WAITS
    await finish(ctx, account, IntakeState.done, "stored")
    assert await receive(ctx, account, CallbackKind.cancellation, NOW) == WAITS
    assert (await row_of(ctx, account)).state == "pending"
    await finish(ctx, account, IntakeState.done, "stored")
    assert await receive(ctx, account, CallbackKind.return_, NOW) == WAITS
    assert (await row_of(ctx, account)).outcome == RETURNS_DUE
    assert await receive(ctx, account, CallbackKind.return_, NOW, ORDER + 1) == WAITS


# -- the account's secret and its URLs ------------------------------------------------------------


async def test_the_secret_stays_until_rotated_and_only_the_current_one_names_the_account(
    ctx: AppContext,
) -> None:
    account = await make_account(ctx)
    other = await make_account(ctx)
    async with ctx.db.session() as session:
        mine = await accounts_service.get_account(session, account.id)
        secret = await service.ensure_secret(session, ctx.cipher, mine)
        theirs = await accounts_service.get_account(session, other.id)
        assert await service.ensure_secret(session, ctx.cipher, theirs) != secret
        await session.commit()
    async with ctx.db.session() as session:
        mine = await accounts_service.get_account(session, account.id)
        # shown again (the account page, the CLI): the same URLs
        assert await service.ensure_secret(session, ctx.cipher, mine) == secret
        found = await service.account_for_secret(session, secret)
        assert found is not None and found.id == account.id
        rotated = await service.rotate_secret(session, ctx.cipher, mine)
        await session.commit()
    assert rotated != secret and len(rotated) >= 32  # 24 random bytes, URL-safe
    async with ctx.db.session() as session:
        assert await service.account_for_secret(session, secret) is None
        found = await service.account_for_secret(session, rotated)
        assert found is not None and found.id == account.id
        mine = await accounts_service.get_account(session, account.id)
        assert await service.ensure_secret(session, ctx.cipher, mine) == rotated
        assert await service.account_for_secret(session, rotated + "x") is None


def test_the_callback_urls_name_each_kind_under_the_public_url() -> None:
    urls = service.callback_urls("https://magflow.example.com", "s3cr3t")
    assert urls == {
        kind: f"https://magflow.example.com/callbacks/emag/s3cr3t/{kind}"
        for kind in ("order", "cancellation", "return", "awb", "documentation")
    }
    for missing in (None, ""):
        with pytest.raises(service.PublicUrlMissingError, match="MAGFLOW_PUBLIC_URL"):
            service.callback_urls(missing, "s3cr3t")


# -- the limit on unknown secrets, on a clock of the test's own -----------------------------------


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle, "time", fake)
    return fake


def test_unknown_secrets_are_refused_for_the_rest_of_the_minute(clock: Clock) -> None:
    limit = UnknownSecretThrottle(3)
    for _ in range(2):
        limit.hit("10.0.0.1")
        assert limit.retry_after("10.0.0.1") is None
        clock.now += 10
    limit.hit("10.0.0.1")  # at 1020: the third in a minute
    assert limit.retry_after("10.0.0.2") is None  # per address
    # refused until the first of the three is a minute old (at 1060), Retry-After rounded up
    assert limit.retry_after("10.0.0.1") == 41
    clock.now = 1059.5
    assert limit.retry_after("10.0.0.1") == 1
    clock.now = 1060.0
    assert limit.retry_after("10.0.0.1") is None
    limit.hit("10.0.0.1")  # 1010, 1020, 1060: three in the minute again
    assert limit.retry_after("10.0.0.1") == 11
    clock.now = 1200.0
    assert limit.retry_after("10.0.0.1") is None
    limit.hit("10.0.0.1")  # the old ones forgotten: one in this minute
    assert limit.retry_after("10.0.0.1") is None


def test_the_throttle_keeps_the_addresses_that_guessed_last(clock: Clock) -> None:
    limit = UnknownSecretThrottle(1, max_addresses=2)
    for address in ("a", "b"):
        limit.hit(address)
    assert limit.retry_after("a") == 61 and limit.retry_after("b") == 61
    clock.now += 1
    limit.hit("a")  # "a" guesses again: "b" is now the one guessed longest ago
    limit.hit("c")  # a third address: the oldest ("b") is forgotten
    assert limit.retry_after("b") is None
    assert limit.retry_after("a") == 60 and limit.retry_after("c") == 61


async def test_the_process_limits_bound_callbacks_at_once_and_unknown_secrets(
    clock: Clock,
) -> None:
    limits = CallbackLimits(concurrency=2, unknown_per_minute=4)
    for taken in range(2):
        assert not limits.slots.locked(), taken
        await limits.slots.acquire()
    assert limits.slots.locked()  # a third callback waits for a slot
    for _ in range(3):
        limits.unknown.hit("x")
    assert limits.unknown.retry_after("x") is None
    limits.unknown.hit("x")
    assert limits.unknown.retry_after("x") == 61


# -- which stored orders are acknowledged ----------------------------------------------------------


@pytest.mark.parametrize(
    ("auto", "order_type", "status", "outcome"),
    [
        (True, 3, 1, "acknowledge"),
        (False, 3, 1, "stored"),
        (True, 2, 1, "fbe"),
        (False, 2, 1, "fbe"),
        (True, 2, 4, "fbe"),
        (True, 3, 2, "not-new"),
        (True, 3, 0, "not-new"),
        (False, 3, 4, "not-new"),
    ],
)
def test_only_new_seller_fulfilled_orders_of_an_auto_acknowledging_account_are_acknowledged(
    auto: bool, order_type: int, status: int, outcome: str
) -> None:
    account = EmagAccount(name="shop", auto_acknowledge=auto)
    assert IntakeWorker._decide(account, order_type, status) == outcome


# -- a documentation callback's re-read of one offer (``work.refresh_offer``) ----------------------


async def _offer(ctx: AppContext, account: EmagAccount, emag_id: int) -> EmagOffer | None:
    async with ctx.db.session() as session:
        return await session.scalar(
            select(EmagOffer).where(
                EmagOffer.account_id == account.id, EmagOffer.emag_id == emag_id
            )
        )


async def _pending_offer(sim: SimulatorServer) -> dict[str, Any]:
    """An offer whose documentation the simulator can approve (validation status 1-4 or 11)."""
    offer_id = 1
    while True:
        offer = await sim_control(sim, "GET", f"/_sim/accounts/main/offers/{offer_id}")
        if offer["validation_status"][0]["value"] in (1, 2, 3, 4, 11):
            return dict(offer)
        offer_id += 1


#: What the offers sync stores of an offer (and so a re-read).
STORED = (
    "part_number_key", "currency", "sale_price", "sale_price_with_vat", "vat_id", "vat_rate",
    "offer_validation_status", "validation_status", "stock_total", "last_seen_run_id",
)  # fmt: skip


def _stored(offer: EmagOffer) -> dict[str, Any]:
    return {name: getattr(offer, name) for name in STORED}


async def test_a_documentation_callback_stores_the_offer_as_the_offers_sync_does(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    offer = await _pending_offer(sim)
    offer_id, pnk = int(offer["id"]), offer["part_number_key"]
    assert await refresh_offer(ctx, accounts.main.id, offer_id) == "stored"
    first = await _offer(ctx, accounts.main, offer_id)
    assert first is not None and first.last_seen_run_id is None  # no sync run saw it
    assert first.created_at is not None and first.currency == "RON"
    assert first.vat_rate is not None and first.sale_price_with_vat is not None
    assert await _offer(ctx, accounts.fbe, offer_id) is None  # the one account's offer only
    # an offers sync saw it since (what it stores of its run, without its cost)
    async with ctx.db.session() as session:
        run = await sync_service.request_run(
            session,
            account_id=accounts.main.id,
            kind=SyncKind.offers,
            mode=SyncMode.full,
            trigger="test",
            requested_by=None,
        )
        await session.execute(
            update(EmagOffer).where(EmagOffer.id == first.id).values(last_seen_run_id=run.id)
        )
        await session.commit()
    # approved: the new validation status stored and written to the offer's history, the run
    # that saw the offer last kept (this read is no sync run)
    await sim_control(sim, "POST", f"/_sim/accounts/main/offers/{offer_id}/approve-documentation")
    before = datetime.now(UTC)
    assert await refresh_offer(ctx, accounts.main.id, offer_id) == "stored"
    approved = await _offer(ctx, accounts.main, offer_id)
    assert approved is not None and approved.validation_status == 9
    assert approved.last_seen_run_id == run.id and approved.created_at == first.created_at
    async with ctx.db.session() as session:
        history = (
            await session.execute(
                select(OfferHistory.offer_validation_status, OfferHistory.recorded_at)
                .where(OfferHistory.account_id == accounts.main.id)
                .where(OfferHistory.emag_id == offer_id)
                .order_by(OfferHistory.recorded_at)
            )
        ).all()
    assert len(history) == 2 and history[-1].recorded_at >= before - timedelta(seconds=1)
    assert history[-1].offer_validation_status == approved.offer_validation_status
    # a callback that names the part number key only: the same offer, read by that key
    async with ctx.db.session() as session:
        await session.execute(delete(EmagOffer))
        await session.commit()
    assert pnk
    assert await refresh_offer(ctx, accounts.main.id, pnk) == "stored"
    by_pnk = await _offer(ctx, accounts.main, offer_id)
    assert by_pnk is not None
    assert _stored(by_pnk) == {**_stored(approved), "last_seen_run_id": None}


async def test_an_offer_refresh_that_cannot_read_the_offer_says_why(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    main = accounts.main.id
    assert await refresh_offer(ctx, main, 987654) == "unknown"
    assert await refresh_offer(ctx, main, "NOSUCHPNK1") == "unknown"
    await set_faults(sim, vendor_ip_refused=[accounts.main.username])
    assert await refresh_offer(ctx, main, 1) == "held"
    await set_faults(sim, is_error=1.0, routes=["product_offer/"])
    assert await refresh_offer(ctx, main, 1) == "failed"
    await set_faults(sim)
    async with ctx.db.session() as session:
        await accounts_service.update_account(session, main, AccountUpdate(is_active=False))
        await session.commit()
    before = route_count(await sim_stats(sim), "product_offer/read")
    assert await refresh_offer(ctx, main, 1) == "disabled"
    assert route_count(await sim_stats(sim), "product_offer/read") == before
    async with ctx.db.session() as session:
        assert (await session.scalar(select(func.count()).select_from(EmagOffer))) == 0


# -- reading the announced orders: as few requests as eMAG's order budget allows -------------------


async def test_announced_orders_are_read_with_as_few_requests_as_they_need(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    new = (await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 120}))[
        "created"
    ]
    (fbe,) = (
        await sim_control(
            sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1, "type": 2}
        )
    )["created"]
    async with ctx.emag_client(creds(ctx, accounts.main)) as client:
        first = [int(r["id"]) for r in await client.read_rows("order", NEW_ORDERS, 1, 100)]
        second = [int(r["id"]) for r in await client.read_rows("order", NEW_ORDERS, 2, 100)]
        assert len(first) == 100 and second and set(new) <= set(first + second)
        past = await _order_not_new(sim, client)

        async def reads(order_ids: list[int]) -> tuple[set[int], int]:
            before = route_count(await sim_stats(sim), "order/read")
            found = await read_orders(client, accounts.main, order_ids)
            assert all(int(found[i]["id"]) == i for i in found)
            return set(found), route_count(await sim_stats(sim), "order/read") - before

        # one order: one read by id, whatever its status; an FBE order is looked for as type 2
        assert await reads([first[0]]) == ({first[0]}, 1)
        assert await reads([past]) == ({past}, 1)
        assert await reads([fbe]) == ({fbe}, 2)
        assert await reads([987654321]) == (set(), 2)
        # several: the first page of new orders holds them all
        assert await reads([first[0], first[-1]]) == ({first[0], first[-1]}, 1)
        # on the next page too: two pages
        assert await reads([first[0], second[0]]) == ({first[0], second[0]}, 2)
        # not among the new ones: read by id after the pages
        assert await reads([first[1], past]) == ({first[1], past}, 3)
        assert await reads([first[1], fbe, 987654321]) == ({first[1], fbe}, 6)
        # every new seller-fulfilled order, by id, in two pages after a count
        assert set(await read_new_orders(client)) == set(first + second)


NEW_ORDERS = {"status": 1, "type": 3}


async def _order_not_new(sim: SimulatorServer, client: Any) -> int:
    """An order of the simulator's history past status 1 (seller-fulfilled)."""
    rows = await client.read_rows("order", {"status": 4, "type": 3}, 1, 10)
    assert rows
    return int(rows[0]["id"])


# -- the acknowledgement: audited, retried when eMAG refuses it ------------------------------------


async def _announce(ctx: AppContext, account_id: int, ids: list[int]) -> None:
    """What a callback does: a pending intake row per order."""
    async with ctx.db.session() as session:
        await repository.add_if_absent(session, account_id, ids, "callback", datetime.now(UTC))
        await session.commit()


async def test_a_refused_acknowledgement_is_audited_and_retried_until_emag_takes_it(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    main = accounts.main
    async with ctx.db.session() as session:
        await accounts_service.update_account(
            session, main.id, AccountUpdate(auto_acknowledge=True)
        )
        await session.commit()
    created = (await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 2}))[
        "created"
    ]
    await _announce(ctx, main.id, created)
    await set_faults(sim, is_error=1.0, routes=["order/acknowledge"])
    start = datetime.now(UTC)
    refused = await IntakeWorker(ctx).execute(main.id)
    assert (refused.stored, refused.acknowledged, refused.postponed) == (2, 0, 2)
    assert not refused.outcomes
    rows = await intake_rows(ctx, main.id)
    for order_id in created:
        row = rows[order_id]
        assert (row.state, row.attempts, row.claimed_by) == ("pending", 1, None)
        assert (row.last_error or "").startswith("acknowledging failed: ")
        assert row.next_attempt_at >= start + timedelta(seconds=29)
        on_emag = await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{order_id}")
        assert on_emag["status"] == 1
    # not due yet: nothing is sent again
    assert (await IntakeWorker(ctx).execute(main.id)).stored == 0
    await set_faults(sim)
    async with ctx.db.session() as session:  # the retry comes due
        await session.execute(update(OrderIntake).values(next_attempt_at=start))
        await session.commit()
    done = await IntakeWorker(ctx).execute(main.id)
    assert (done.stored, done.acknowledged, done.postponed) == (2, 2, 0)
    assert done.outcomes == dict.fromkeys(created, "acknowledged")
    rows = await intake_rows(ctx, main.id)
    async with ctx.db.session() as session:
        orders = {
            o.emag_id: o
            for o in (
                await session.execute(select(EmagOrder).where(EmagOrder.emag_id.in_(created)))
            ).scalars()
        }
        audit = (
            await session.execute(
                select(AuditLog)
                .where(AuditLog.action == "orders.acknowledge")
                .order_by(AuditLog.id)
            )
        ).scalars()
        entries = [
            (a.target, a.emag_route, a.account_id, a.account_name, a.success, a.user_email)
            for a in audit
            if a.success is False
            or (a.status_code, a.messages, a.error_kind) == (200, [], None)  # as eMAG answered
        ]
    for order_id in created:
        assert (rows[order_id].state, rows[order_id].outcome) == ("done", "acknowledged")
        assert rows[order_id].acknowledged_at is not None
        assert orders[order_id].status == 2 and orders[order_id].acknowledged_at is not None
        on_emag = await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{order_id}")
        assert on_emag["status"] == 2
    # one entry per order and attempt, the refused ones too, by the system (no user), each
    # naming the order and the account
    expected = [
        (f"order:{i}", f"order/acknowledge/{i}", main.id, "main", ok, "system")
        for ok in (False, True)
        for i in created
    ]
    assert sorted(entries, key=str) == sorted(expected, key=str)


# -- the maintenance timer's choices: whose poll is due, whose pending orders nobody works on ------


async def _set_polled(ctx: AppContext, account_id: int, polled_at: datetime) -> None:
    async with ctx.db.session() as session:
        await session.execute(
            update(IntakePoll)
            .where(IntakePoll.account_id == account_id)
            .values(polled_at=polled_at)
        )
        await session.commit()


async def test_each_active_accounts_poll_is_due_once_per_interval(
    ctx: AppContext, make_ctx: Callable[..., AppContext]
) -> None:
    first, second, disabled = [await make_account(ctx) for _ in range(3)]
    async with ctx.db.session() as session:
        await accounts_service.update_account(session, disabled.id, AccountUpdate(is_active=False))
        await session.commit()
    assert sorted(await accounts_to_poll(ctx)) == sorted([first.id, second.id])
    assert await accounts_to_poll(ctx) == []  # taken: not due again within the interval
    now = datetime.now(UTC)
    await _set_polled(ctx, first.id, now - timedelta(seconds=58))  # 60 s, less the tick's slack
    await _set_polled(ctx, second.id, now - timedelta(seconds=50))
    assert await accounts_to_poll(ctx) == [first.id]
    # held for an IP refusal (its poll turn moved past the hold): not due until then
    async with ctx.db.session() as session:
        await repository.hold(session, second.id, "w", now + timedelta(hours=1), "refused")
        await session.commit()
    await _set_polled(ctx, first.id, now - timedelta(minutes=5))
    assert await accounts_to_poll(ctx) == [first.id]
    # a poll interval of 0 turns the catch-up poll off; a short one polls at every tick
    assert await accounts_to_poll(make_ctx(intake_poll_seconds=0)) == []
    every_tick = make_ctx(intake_poll_seconds=1)
    assert await accounts_to_poll(every_tick) == [first.id]
    assert await accounts_to_poll(every_tick) == [first.id]


async def test_the_timer_finds_the_pending_orders_nobody_works_on(ctx: AppContext) -> None:
    account, other, disabled = [await make_account(ctx) for _ in range(3)]
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        for each in (account, other, disabled):
            await repository.add_if_absent(session, each.id, [ORDER], "callback", now)
        await accounts_service.update_account(session, disabled.id, AccountUpdate(is_active=False))
        # another worker holds the other account's order since a moment
        assert await repository.claim(session, other.id, "w", now, now, 10) == [ORDER]
        await session.commit()
    assert await due_accounts(ctx) == [account.id]
    # a claim older than MAGFLOW_SYNC_STALE_SECONDS (60) is a worker that died: taken over
    async with ctx.db.session() as session:
        await session.execute(
            update(OrderIntake)
            .where(OrderIntake.account_id == other.id)
            .values(claimed_at=now - timedelta(seconds=61))
        )
        await session.commit()
    assert sorted(await due_accounts(ctx)) == sorted([account.id, other.id])
    # a retry not due yet waits
    async with ctx.db.session() as session:
        await repository.postpone(
            session, account.id, [ORDER], error="x", retry_at=now + timedelta(seconds=30)
        )
        await session.commit()
    assert await due_accounts(ctx) == [other.id]


# -- the catch-up poll: an acknowledgement eMAG lost is sent again ---------------------------------


async def test_the_poll_acknowledges_again_an_order_emag_still_shows_as_new(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    main = accounts.main
    lost, recent, stored, unannounced = (
        await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 4})
    )["created"]
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        await repository.add_if_absent(session, main.id, [lost, recent, stored], "callback", now)
        # acknowledged here long ago (eMAG lost it), a moment ago (eMAG's list may predate it),
        # and stored without acknowledging (auto_acknowledge was off)
        for order_id, when in ((lost, now - timedelta(minutes=10)), (recent, now)):
            await repository.finish(
                session,
                main.id,
                order_id,
                state=IntakeState.done,
                outcome="acknowledged",
                now=when,
                acknowledged=True,
            )
        await repository.finish(
            session, main.id, stored, state=IntakeState.done, outcome="stored", now=now
        )
        await session.commit()
    # auto_acknowledge off: the poll leaves finished orders alone, and stores the one no
    # callback announced
    report = await IntakeWorker(ctx).execute(main.id, poll=True)
    assert report.polled >= 4 and report.stored == 1
    assert report.outcomes == {unannounced: "stored"}
    row = (await intake_rows(ctx, main.id))[unannounced]
    assert (row.source, row.state, row.outcome) == ("poll", "done", "stored")
    async with ctx.db.session() as session:
        await accounts_service.update_account(
            session, main.id, AccountUpdate(auto_acknowledge=True)
        )
        await session.commit()
    report = await IntakeWorker(ctx).execute(main.id, poll=True)
    assert report.outcomes == dict.fromkeys([lost, stored, unannounced], "acknowledged")
    rows = await intake_rows(ctx, main.id)
    assert (rows[recent].state, rows[recent].outcome) == ("done", "acknowledged")
    assert rows[recent].acknowledged_at == now
    for order_id in (lost, stored, unannounced):
        on_emag = await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{order_id}")
        assert on_emag["status"] == 2


# -- a return callback: the order's returns read with it, again when reading them failed ----------


async def test_returns_that_could_not_be_read_are_read_on_the_retry(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    main = accounts.main
    idx = 0
    while (await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{ORDER_ID_BASE + idx}"))[
        "status"
    ] == 5:
        idx += 1
    order_id, rma_id = ORDER_ID_BASE + idx, RMA_ID_BASE + idx  # "main" is the first account
    await sim_control(
        sim, "POST", f"/_sim/accounts/main/orders/{order_id}/edit", json={"status": 5}
    )
    start = datetime.now(UTC)
    assert await receive(ctx, main, CallbackKind.return_, start, order_id) == QUEUED
    await set_faults(sim, is_error=1.0, routes=["rma/"])
    failed = await IntakeWorker(ctx).execute(main.id)
    assert (failed.postponed, failed.stored, failed.returns, failed.outcomes) == (1, 0, 0, {})
    row = await row_of(ctx, main, order_id)
    assert (row.state, row.outcome, row.attempts) == ("pending", RETURNS_DUE, 1)
    assert row.last_error == "reading its returns from eMAG failed"
    assert row.next_attempt_at >= start + timedelta(seconds=29)
    await set_faults(sim)
    async with ctx.db.session() as session:  # the retry comes due
        await session.execute(update(OrderIntake).values(next_attempt_at=start))
        await session.commit()
    read = await IntakeWorker(ctx).execute(main.id)
    assert (read.postponed, read.stored, read.returns) == (0, 1, 1)
    assert read.outcomes == {order_id: "not-new"}
    row = await row_of(ctx, main, order_id)
    assert (row.state, row.outcome) == ("done", "not-new")
    async with ctx.db.session() as session:
        stored = await session.scalar(
            select(EmagReturn).where(EmagReturn.account_id == main.id, EmagReturn.emag_id == rma_id)
        )
    assert stored is not None and stored.order_emag_id == order_id


async def test_a_return_callback_for_an_order_emag_does_not_know_ends_unknown(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    await receive(ctx, accounts.main, CallbackKind.return_, datetime.now(UTC), 987654321)
    report = await IntakeWorker(ctx).execute(accounts.main.id)
    assert (report.unknown, report.returns, report.outcomes) == (1, 0, {987654321: "unknown"})
    row = await row_of(ctx, accounts.main, 987654321)
    assert (row.state, row.outcome, row.claimed_by) == ("unknown", "unknown", None)


async def test_an_ip_refusal_while_reading_holds_the_orders_with_emags_message_and_the_hint(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    main = accounts.main
    (order_id,) = (
        await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1})
    )["created"]
    await _announce(ctx, main.id, [order_id])
    await set_faults(sim, vendor_ip_refused=[main.username])
    start = datetime.now(UTC)
    report = await IntakeWorker(ctx).execute(main.id)
    assert report.held_until is not None and report.held_until >= start + IP_REFUSAL_PAUSE
    assert (report.stored, report.postponed, report.outcomes) == (0, 0, {})
    row = await row_of(ctx, main, order_id)
    assert (row.state, row.claimed_by, row.attempts) == ("pending", None, 0)
    assert row.next_attempt_at == report.held_until
    # what eMAG said (the address it saw) and what the seller is to do
    assert row.last_error == f"ERROR: Invalid vendor ip [127.0.0.1] ({IP_WHITELIST_HINT})"


def _catalog_of_two_pages() -> SimConfig:
    """The intake tests' simulator with 110 offers on "main": some beyond a first page."""
    tag = uuid.uuid4().hex[:8]
    return SimConfig(
        seed=29,
        offers=110,
        orders=10,
        history_days=5,
        accounts=[
            SimAccount(name="main", account_type="main", username=f"main-{tag}", password="pw-m"),
            SimAccount(name="fbe", account_type="fbe", username=f"fbe-{tag}", password="pw-f"),
        ],
    )


@pytest.mark.parametrize("sim_config", [_catalog_of_two_pages()])
async def test_a_documentation_callback_reads_just_the_offer_it_names(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    offer = await sim_control(sim, "GET", "/_sim/accounts/main/offers/105")
    pnk = offer["part_number_key"]
    assert pnk
    for named in (105, pnk):
        async with ctx.db.session() as session:
            await session.execute(delete(EmagOffer))
            await session.commit()
        before = route_count(await sim_stats(sim), "product_offer/read")
        assert await refresh_offer(ctx, accounts.main.id, named) == "stored", named
        assert route_count(await sim_stats(sim), "product_offer/read") == before + 1
        stored = await _offer(ctx, accounts.main, 105)
        assert stored is not None and stored.part_number_key == pnk


async def test_an_offer_refresh_never_raises(ctx: AppContext) -> None:
    """The re-read runs after the callback was answered: whatever goes wrong (here the account
    is gone) it ends "failed", for the next offers sync to make good."""
    assert await refresh_offer(ctx, 987654, 1) == "failed"


async def test_a_poll_reads_at_most_ten_pages_of_new_orders(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1010})
    async with ctx.emag_client(creds(ctx, accounts.main)) as client:
        before = route_count(await sim_stats(sim), "order/read")
        found = await read_new_orders(client)
        assert route_count(await sim_stats(sim), "order/read") == before + 10
    assert len(found) == 1000  # the rest: the next poll, once these are handled
