"""Sync behaviour that the mutation sample found unasserted (issue 19), against the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer

from magflow.accounts.models import EmagAccount
from magflow.accounts.service import AccountCredentials
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag.codes import ALL_ORDER_TYPES
from magflow.emag.dates import format_emag_datetime
from magflow.emag.errors import IP_WHITELIST_HINT, EmagTransientError, EmagValidationError
from magflow.emag.platforms import platform_info
from magflow.emag.schemas import CountResult
from magflow.emag_sim import SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.pricing.models import OfferHistory
from magflow.sync import service
from magflow.sync.engine import (
    EmagSource,
    EngineOptions,
    MissingDecision,
    SyncEngine,
    judge_missing,
)
from magflow.sync.models import SyncKind, SyncLog, SyncMode
from magflow.sync.plan import ORDER_WINDOW, order_windows
from magflow.sync.wiring import build_engine
from tests.factories import make_account
from tests.support.simulation import Accounts, set_faults, sync


async def stored_offers(ctx: AppContext, account_id: int) -> dict[int, EmagOffer]:
    async with ctx.db.session() as session:
        rows = await session.execute(select(EmagOffer).where(EmagOffer.account_id == account_id))
        return {row.emag_id: row for row in rows.scalars()}


async def test_a_partial_offers_run_after_a_complete_one_marks_nothing_missing(
    make_ctx: Callable[..., AppContext], sim: SimulatorServer, accounts: Accounts
) -> None:
    """Offers a run could not read are not gone from eMAG: only a complete run may mark offers
    missing, even when an earlier complete run exists."""
    ctx = make_ctx(sync_round_backoff_seconds=0.05)
    assert (await sync(ctx, accounts.main, SyncKind.offers)).status == "completed"
    before = await stored_offers(ctx, accounts.main.id)
    assert len(before) == 230 and all(o.missing_since is None for o in before.values())

    await set_faults(sim, is_error=1.0, routes=["product_offer/read"])
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "partial"
    after = await stored_offers(ctx, accounts.main.id)
    assert sorted(after) == sorted(before)
    assert [o.emag_id for o in after.values() if o.missing_since is not None] == []


async def test_failed_items_of_a_partial_run_never_exceed_its_total(
    make_ctx: Callable[..., AppContext], sim: SimulatorServer, accounts: Accounts
) -> None:
    """230 offers in 3 pages, every page refused: 230 items failed (not 3 x 100)."""
    ctx = make_ctx(sync_round_backoff_seconds=0.05)
    await set_faults(sim, is_error=1.0, routes=["product_offer/read"])
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "partial"
    assert run.total_items == 230 and run.processed_items == 0
    assert run.failed_items == run.total_items - run.processed_items == 230


async def sync_since(ctx: AppContext, accounts: Accounts, since: datetime) -> SyncLog:
    """A full orders run of the MAIN account reading orders created since ``since``."""
    async with ctx.db.session() as session:
        run = await service.request_run(
            session,
            account_id=accounts.main.id,
            kind=SyncKind.orders,
            mode=SyncMode.full,
            trigger="test",
            requested_by=None,
            params={"since": since.isoformat()},
        )
    await build_engine(ctx).execute(run.id)
    async with ctx.db.session() as session:
        final = await session.get(SyncLog, run.id)
        assert final is not None
        return final


async def test_consecutive_order_windows_leave_no_gap(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """A full order sync reads in windows of at most 28 days (eMAG's limit: a month); the next
    window starts where the previous one stopped. ``since`` is chosen so that the boundary
    between the two windows falls one second before an order's creation: that order must be
    stored, as every order created since ``since``."""
    acc = sim.state.account("main")
    assert acc is not None
    created = list(acc.created)
    target = len(created) // 2  # about 25 days ago, of the 50 days of history
    boundary = datetime.fromtimestamp(created[target] - 1, UTC)
    since = boundary - ORDER_WINDOW  # window 1: [since, boundary], window 2: [boundary, now]
    assert boundary > datetime.now(UTC) - ORDER_WINDOW  # so there are exactly two windows

    run = await sync_since(ctx, accounts, since)
    assert run.status == "completed", run.errors
    expected = {acc.order_base + i for i, ts in enumerate(created) if ts >= int(since.timestamp())}
    async with ctx.db.session() as session:
        stored = set(
            (
                await session.execute(
                    select(EmagOrder.emag_id).where(EmagOrder.account_id == accounts.main.id)
                )
            ).scalars()
        )
    assert acc.order_base + target in stored
    assert stored == expected


# -- the engine's promise, driven through the simulator with a source that shapes its answers --


class _Shaped:
    """The simulator's answers through the account's real client, recorded: the filters of every
    count and the page of every read. ``before_read(page)`` runs before a page is read (it may
    wait for the database, raise what eMAG or a crash would, or ask for a cancellation);
    ``recount(result)`` may replace a count's answer."""

    def __init__(
        self,
        inner: EmagSource,
        before_read: Callable[[int], Awaitable[None]] | None,
        recount: Callable[[CountResult], CountResult] | None,
    ) -> None:
        self.inner = inner
        self.stats = inner.stats
        self.before_read = before_read
        self.recount = recount
        self.counted: list[tuple[str, dict[str, Any]]] = []
        self.read: list[int] = []
        self.returned: list[int] = []
        self.reshape: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    async def count(self, resource: str, filters: dict[str, Any]) -> CountResult:
        self.counted.append((resource, dict(filters)))
        result = await self.inner.count(resource, filters)
        return self.recount(result) if self.recount is not None else result

    async def read_rows(
        self, resource: str, filters: dict[str, Any], page: int, items_per_page: int
    ) -> list[dict[str, Any]]:
        self.read.append(page)
        if self.before_read is not None:
            await self.before_read(page)
        rows = await self.inner.read_rows(resource, filters, page, items_per_page)
        self.returned.append(page)
        return [self.reshape(row) for row in rows] if self.reshape is not None else rows

    async def vat_rates(self) -> dict[int, Decimal]:
        return await self.inner.vat_rates()


class _Events:
    """A publisher keeping what each event showed: (type, status, processed, eta, data)."""

    def __init__(self, on_progress: Callable[[], Awaitable[None]] | None = None) -> None:
        self.seen: list[tuple[str, str, int, float | None, dict[str, Any]]] = []
        #: The progress each event showed (as the screens do), and when it was published.
        self.views: list[tuple[str, dict[str, Any], float]] = []
        self.on_progress = on_progress

    async def __call__(self, event_type: str, run: SyncLog, data: dict[str, Any]) -> None:
        self.seen.append((event_type, run.status, run.processed_items, run.eta_seconds, data))
        self.views.append((event_type, service.progress_view(run), time.monotonic()))
        if event_type == "sync.progress" and self.on_progress is not None:
            await self.on_progress()

    def types(self) -> list[str]:
        return [seen[0] for seen in self.seen]


def shaped_engine(
    ctx: AppContext,
    *,
    before_read: Callable[[int], Awaitable[None]] | None = None,
    recount: Callable[[CountResult], CountResult] | None = None,
    publish: _Events | None = None,
    reshape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    **options: Any,
) -> tuple[SyncEngine, list[_Shaped]]:
    """An engine whose source is the shaped client; the sources it opened, one per attempt."""
    sources: list[_Shaped] = []

    @asynccontextmanager
    async def factory(credentials: AccountCredentials) -> AsyncIterator[EmagSource]:
        async with ctx.emag_client(credentials) as client:
            sources.append(_Shaped(client, before_read, recount))
            sources[-1].reshape = reshape
            yield sources[-1]

    settings = {"writers": 1, "round_backoff_seconds": 0.0, **options}
    engine = SyncEngine(ctx, factory, publish or _Events(), EngineOptions(**settings))
    return engine, sources


async def queue(
    ctx: AppContext,
    account: EmagAccount,
    kind: SyncKind,
    mode: SyncMode = SyncMode.full,
    params: dict[str, Any] | None = None,
) -> int:
    async with ctx.db.session() as session:
        run = await service.request_run(
            session,
            account_id=account.id,
            kind=kind,
            mode=mode,
            trigger="test",
            requested_by=None,
            params=params,
        )
    return run.id


async def load(ctx: AppContext, run_id: int) -> SyncLog:
    async with ctx.db.session() as session:
        run = await session.get(SyncLog, run_id, options=[undefer(SyncLog.withheld_offer_ids)])
    assert run is not None
    return run


async def until(ctx: AppContext, run_id: int, condition: Callable[[SyncLog], bool]) -> SyncLog:
    """The run once ``condition`` holds for it (a hang here fails the test by its timeout)."""
    async with asyncio.timeout(60):
        while True:
            run = await load(ctx, run_id)
            if condition(run):
                return run
            await asyncio.sleep(0.01)


def refusal(text: str) -> EmagValidationError:
    """What the client raises for a page eMAG answers with ``isError: true``."""
    return EmagValidationError(
        "eMAG refused the request", route="product_offer/read", status_code=200, messages=[text]
    )


async def test_executing_a_finished_or_unknown_run_changes_nothing(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """A run already finished (a duplicate job, a late retry) is not run again: no eMAG call,
    no event, the run as it was."""
    done = await sync(ctx, accounts.main, SyncKind.offers)
    assert done.status == "completed"
    events = _Events()
    engine, sources = shaped_engine(ctx, publish=events)
    assert await engine.execute(done.id) == "completed"
    assert await engine.execute(424242) == "missing"
    assert sources == [] and events.seen == []
    again = await load(ctx, done.id)
    assert (again.finished_at, again.api_calls, again.processed_items, again.heartbeat_at) == (
        done.finished_at,
        done.api_calls,
        done.processed_items,
        done.heartbeat_at,
    )


async def test_a_runs_events_show_its_start_progress_milestones_and_end(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """What the live screens show: started (not resumed), progress up to all 230 offers with an
    ETA that falls to 0, each milestone once when reached, completed with nothing to warn of."""
    events = _Events()
    engine, sources = shaped_engine(ctx, publish=events)
    run_id = await queue(ctx, accounts.main, SyncKind.offers)
    assert await engine.execute(run_id) == "completed"
    run = await load(ctx, run_id)

    assert events.seen[0] == ("sync.started", "running", 0, None, {"resumed": False})
    assert events.seen[-1] == ("sync.completed", "completed", 230, 0, {})
    progress = [seen for seen in events.seen if seen[0] == "sync.progress"]
    processed = [seen[2] for seen in progress]
    assert processed == sorted(set(processed)) and processed[-1] == 230
    assert progress[-1][3] == 0  # nothing left
    assert all(eta is not None and eta >= 0 for _, _, _, eta, _ in progress)
    milestones = [
        (data["milestone"], done)
        for kind, _, done, _, data in events.seen
        if kind == "sync.milestone"
    ]
    assert [milestone for milestone, _ in milestones] == [25, 50, 75, 100]
    assert all(100 * done / 230 >= milestone for milestone, done in milestones)

    # The run's own record: every eMAG call of the run (vat rates, count, 3 pages), 100 %.
    assert (sources[0].counted, sorted(sources[0].read)) == ([("product_offer", {})], [1, 2, 3])
    assert run.api_calls == sources[0].stats.api_calls == 5
    assert (run.retries, run.rate_limited) == (0, 0)
    assert run.worker_id is not None and run.started_at is not None
    assert run.heartbeat_at == run.finished_at and run.eta_seconds == 0
    assert run.watermark is None  # offers have none; only orders read incrementally
    assert run.throughput is not None and run.throughput > 0


async def test_a_rerun_offers_sync_updates_every_offer_and_creates_none(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    first = await sync(ctx, accounts.main, SyncKind.offers)
    second = await sync(ctx, accounts.main, SyncKind.offers)
    assert (first.created_items, first.updated_items) == (230, 0)
    assert (second.created_items, second.updated_items, second.processed_items) == (0, 230, 230)
    assert len(await stored_offers(ctx, accounts.main.id)) == 230


class _Killed(BaseException):
    """The process dying: nothing in the engine catches it, the run stays ``running``."""


async def test_a_resumed_run_reads_only_the_pages_not_done_and_counts_everything_once(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """The process dies once pages 1 and 2 are committed. The run, executed again, reuses the
    stored plan (no count, no VAT read), reads page 3 only, keeps its start time, and ends with
    what an uninterrupted run has: 230 offers created once, every eMAG call of both attempts."""
    run_id = await queue(ctx, accounts.main, SyncKind.offers)

    async def die_on_page_3(page: int) -> None:
        if page == 3:
            await until(ctx, run_id, lambda run: run.processed_items == 200)
            raise _Killed

    engine, _ = shaped_engine(ctx, before_read=die_on_page_3)
    with pytest.raises(_Killed):
        await engine.execute(run_id)
    killed = await load(ctx, run_id)
    assert killed.status == "running" and killed.checkpoint is not None
    assert (killed.processed_items, killed.created_items) == (200, 200)
    assert killed.api_calls == 4  # VAT rates, count, pages 1 and 2
    assert killed.started_at is not None and killed.heartbeat_at is not None
    assert killed.heartbeat_at > killed.started_at  # the page writes beat

    events = _Events()
    engine, second = shaped_engine(ctx, publish=events)
    assert await engine.execute(run_id) == "completed"
    final = await load(ctx, run_id)
    assert (second[0].counted, second[0].read) == ([], [3])
    assert events.seen[0][0] == "sync.started" and events.seen[0][4] == {"resumed": True}
    assert final.started_at == killed.started_at
    assert (final.processed_items, final.total_items) == (230, 230)
    assert (final.created_items, final.updated_items) == (230, 0)
    assert final.current_page == final.total_pages == 3
    assert final.api_calls == killed.api_calls + second[0].stats.api_calls == 5
    assert (final.retries, final.rate_limited) == (0, 0)
    assert len(await stored_offers(ctx, accounts.main.id)) == 230


async def test_a_cancelled_run_stops_and_keeps_only_the_pages_committed_before(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """Cancellation asked while page 2 is read: page 2's write is refused and rolled back, the
    run ends ``cancelled`` with page 1 stored and the calls it made recorded."""
    run_id = await queue(ctx, accounts.main, SyncKind.offers)

    async def cancel_on_page_2(page: int) -> None:
        if page == 2:
            await until(ctx, run_id, lambda run: run.processed_items == 100)
            async with ctx.db.session() as session:
                await service.request_cancel(session, run_id)
                await session.commit()

    events = _Events()
    engine, sources = shaped_engine(
        ctx, before_read=cancel_on_page_2, publish=events, concurrency=1
    )
    assert await engine.execute(run_id) == "cancelled"
    run = await load(ctx, run_id)
    assert run.status == "cancelled" and run.finished_at is not None
    assert (run.processed_items, run.created_items) == (100, 100)
    assert len(await stored_offers(ctx, accounts.main.id)) == 100
    assert run.api_calls == sources[0].stats.api_calls >= 4  # VAT, count, pages 1 and 2
    assert run.eta_seconds is None and run.errors == []
    assert events.seen[-1][:3] == ("sync.cancelled", "cancelled", 100)


async def test_a_crash_fails_the_run_with_a_reference_not_the_exceptions_text(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """Something other than eMAG's answer breaks the run (here before any page is written): it
    fails with a reference to the server log, not the exception's text, and records the eMAG
    calls it made (VAT rates and count)."""
    run_id = await queue(ctx, accounts.main, SyncKind.offers)

    async def crash(page: int) -> None:
        raise RuntimeError("SELECT secret FROM customers")

    events = _Events()
    engine, sources = shaped_engine(ctx, before_read=crash, publish=events, concurrency=1)
    assert await engine.execute(run_id) == "failed"
    run = await load(ctx, run_id)
    [entry] = run.errors
    assert entry["kind"] == "internal" and entry["reference"] in entry["message"]
    assert "secret" not in str(run.errors)
    assert run.api_calls == sources[0].stats.api_calls == 2
    assert (run.processed_items, run.eta_seconds) == (0, None)
    assert events.seen[-1][:2] == ("sync.failed", "failed")
    assert events.seen[-1][4] == {"message": entry["message"]}


@pytest.mark.parametrize(("rounds", "status"), [(1, "partial"), (2, "completed")])
async def test_a_page_that_timed_out_once_is_read_again_in_the_next_round(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, rounds: int, status: str
) -> None:
    """Page 2 times out (after the client's retries) the first time it is read: with a second
    round it is read again and the run completes; with one round the run is partial, 100 items
    failed, and the run says why (the error's text: a timeout has no message of eMAG's)."""
    timed_out: list[int] = []

    async def time_out_page_2_once(page: int) -> None:
        if page == 2 and not timed_out:
            timed_out.append(page)
            raise EmagTransientError("timed out", reason="timeout", route="product_offer/read")

    events = _Events()
    engine, sources = shaped_engine(
        ctx, before_read=time_out_page_2_once, publish=events, rounds=rounds
    )
    run_id = await queue(ctx, accounts.main, SyncKind.offers)
    assert await engine.execute(run_id) == status
    run = await load(ctx, run_id)
    [error] = run.errors
    assert datetime.fromisoformat(error.pop("at")).tzinfo is not None
    assert error == {
        "page": 2,
        "kind": "EmagTransientError",
        "status_code": None,
        "messages": ["product_offer/read: timed out"],
        "filters": {},
    }
    assert sorted(sources[0].read) == sorted([1, 2, 3] + [2] * (rounds - 1))
    stored = len(await stored_offers(ctx, accounts.main.id))
    if status == "completed":
        assert (run.processed_items, run.failed_items, stored) == (230, 0, 230)
        assert run.eta_seconds == 0 and events.seen[-1][4] == {}
    else:
        assert (run.processed_items, run.failed_items, stored) == (130, 100, 130)
        assert run.eta_seconds is None
        assert events.seen[-1][:2] == ("sync.partial", "partial")
        assert events.seen[-1][4] == {"message": "product_offer/read: timed out"}


async def test_a_page_refused_every_time_is_tried_in_three_rounds(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """By default a failing page is read in 3 rounds before the run gives up: 3 pages x 3
    rounds refused, each error recorded with its page, the run beating meanwhile (no page is
    written, the error records beat). The partial run's event gives eMAG's messages of the last
    error."""
    run_id = await queue(ctx, accounts.main, SyncKind.offers)
    beats: list[SyncLog] = []

    async def refuse(page: int) -> None:
        if len(sources[0].read) > 3:  # rounds 2 and 3: what the first round left behind
            beats.append(await load(ctx, run_id))
        raise EmagValidationError(
            "refused",
            route="product_offer/read",
            status_code=200,
            messages=[f"page {page} refused", "Please try again later."],
        )

    events = _Events()
    engine, sources = shaped_engine(ctx, before_read=refuse, publish=events)
    assert await engine.execute(run_id) == "partial"
    run = await load(ctx, run_id)
    assert sorted(sources[0].read) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert sorted(error["page"] for error in run.errors) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert all(
        error["messages"] == [f"page {error['page']} refused", "Please try again later."]
        for error in run.errors
    )
    last = run.errors[-1]["page"]
    assert events.seen[-1][4] == {"message": f"page {last} refused; Please try again later."}
    assert beats and all(
        beat.heartbeat_at is not None
        and beat.started_at is not None
        and beat.heartbeat_at > beat.started_at
        for beat in beats
    )


@pytest.mark.parametrize(("rounds", "status"), [(34, "partial"), (35, "failed")])
async def test_a_run_keeps_the_last_hundred_errors(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, rounds: int, status: str
) -> None:
    """34 rounds of 3 refused pages: 102 errors, the run keeps the latest 100 with eMAG's
    messages. A 35th round crashes: the crash is the last of the 100 kept."""
    numbers = iter(range(1, 1000))

    async def refuse(page: int) -> None:
        number = next(numbers)
        if number > 102:
            raise RuntimeError("crash")
        raise refusal(f"refusal {number}")

    engine, _ = shaped_engine(ctx, before_read=refuse, rounds=rounds, concurrency=1)
    run_id = await queue(ctx, accounts.main, SyncKind.offers)
    assert await engine.execute(run_id) == status
    run = await load(ctx, run_id)
    assert len(run.errors) == 100
    assert {(e.get("status_code"), e.get("page") is not None) for e in run.errors[:99]} == {
        (200, True)
    }
    messages = [e["messages"] for e in run.errors]
    if status == "partial":
        assert messages == [[f"refusal {n}"] for n in range(3, 103)]
        assert run.failed_items == 230
    else:
        assert messages[:-1] == [[f"refusal {n}"] for n in range(4, 103)]
        assert run.errors[-1]["kind"] == "internal"


async def test_an_auth_refusal_during_the_pages_fails_the_run_at_once(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """eMAG refuses the server's IP from page 2 on: no further round could succeed, so the run
    fails at once (not partial) with eMAG's message and the seller's hint, once."""
    refused_since: list[int] = []

    async def refuse_ip_from_page_2(page: int) -> None:
        if page == 2 and not refused_since:
            refused_since.append(page)
            await set_faults(sim, vendor_ip_refused=[accounts.main.username])

    engine, sources = shaped_engine(ctx, before_read=refuse_ip_from_page_2, concurrency=1, rounds=3)
    run_id = await queue(ctx, accounts.main, SyncKind.offers)
    assert await engine.execute(run_id) == "failed"
    run = await load(ctx, run_id)
    [error] = run.errors
    assert (error["page"], error["kind"], error["hint"]) == (
        None,
        "EmagIpNotWhitelistedError",
        IP_WHITELIST_HINT,
    )
    assert error["messages"] == ["ERROR: Invalid vendor ip [127.0.0.1]"]
    assert sources[0].read.count(2) == 1  # no further round


async def test_a_run_beats_while_it_waits_for_a_slow_page(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """While a page takes long, the run's heartbeat still advances, so it is not taken for a
    dead worker's run and resumed a second time."""
    run_id = await queue(ctx, accounts.main, SyncKind.offers)
    beats: list[datetime] = []

    async def slow_first_page(page: int) -> None:
        if page == 1 and not beats:
            started = await load(ctx, run_id)
            assert started.heartbeat_at is not None
            # Before any page: the plan's size is already shown, and kept for a resume.
            assert (started.total_items, started.total_pages) == (230, 3)
            assert started.checkpoint is not None
            beats.append(started.heartbeat_at)
            beat = await until(
                ctx,
                run_id,
                lambda run: run.heartbeat_at is not None and run.heartbeat_at > beats[0],
            )
            assert beat.processed_items == 0  # no page written: the heartbeat did it
            beats.append(beat.heartbeat_at)

    engine, _ = shaped_engine(
        ctx, before_read=slow_first_page, concurrency=1, heartbeat_seconds=0.01
    )
    assert await engine.execute(run_id) == "completed"
    assert len(beats) == 2


@pytest.mark.parametrize(
    ("counted", "reason"), [(-5, "count_unknown"), (0, None), (50, None), (240, "count_short")]
)
async def test_the_pages_not_the_count_decide_what_is_read(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, counted: int, reason: str | None
) -> None:
    """eMAG counts fewer offers than it holds (or a negative, unreadable number): the run reads
    on while pages come back full, stores all 230, and its total is what the pages showed. A
    vanished offer is marked missing only when the count was a number the run read at least."""
    ghost = GHOST
    async with ctx.db.session() as session:
        session.add(
            EmagOffer(
                account_id=accounts.main.id, emag_id=ghost, raw={}, last_seen_at=datetime.now(UTC)
            )
        )
        await session.commit()
    engine, sources = shaped_engine(ctx, recount=lambda _: CountResult(no_of_items=counted))
    run_id = await queue(ctx, accounts.main, SyncKind.offers)
    assert await engine.execute(run_id) == "completed"
    run = await load(ctx, run_id)
    assert sorted(sources[0].read) == [1, 2, 3]
    assert (run.processed_items, run.total_items, run.total_pages) == (230, 230, 3)
    assert run.current_page == 3 and run.failed_items == 0
    assert run.checkpoint is not None
    assert run.checkpoint["segments"][0]["counted"] == (None if counted < 0 else counted)
    offers = await stored_offers(ctx, accounts.main.id)
    assert len(offers) == 231
    if reason is None:
        assert run.warning is None
        assert offers[ghost].missing_since is not None
    else:
        assert run.warning is not None and run.warning["reason"] == reason
        assert offers[ghost].missing_since is None


GHOST = 900_000


async def test_a_withheld_run_says_what_it_withheld_and_why(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """70 offers eMAG no longer returns, of 300 (23 % > 20 %): none is marked; the run's warning
    holds the figures the operator decides on, the withheld offers are listed, and the completed
    event carries the message."""
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        ghosts = [
            EmagOffer(account_id=accounts.main.id, emag_id=GHOST + i, raw={}, last_seen_at=now)
            for i in range(70)
        ]
        session.add_all(ghosts)
        await session.commit()
        ghost_ids = {ghost.id for ghost in ghosts}
    events = _Events()
    engine, _ = shaped_engine(ctx, publish=events, missing_guard_share=0.2)
    run_id = await queue(ctx, accounts.main, SyncKind.offers)
    assert await engine.execute(run_id) == "completed"
    run = await load(ctx, run_id)
    decision = judge_missing(unseen=70, seen=230, counted=230, present=300, share=0.2)
    assert decision.message is not None
    assert run.warning == {
        "code": "missing_withheld",
        "reason": "share",
        "message": decision.message,
        "withheld": 70,
        "seen": 230,
        "counted": 230,
        "present": 300,
        "share_limit": 0.2,
    }
    assert set(run.withheld_offer_ids or []) == ghost_ids
    assert events.seen[-1][0] == "sync.completed"
    assert events.seen[-1][4] == {"warning": decision.message}
    offers = await stored_offers(ctx, accounts.main.id)
    assert all(offer.missing_since is None for offer in offers.values())

    # With a share that allows it, the next run marks exactly those 70, and warns of nothing.
    engine, _ = shaped_engine(ctx, missing_guard_share=0.25)
    run_id = await queue(ctx, accounts.main, SyncKind.offers)
    assert await engine.execute(run_id) == "completed"
    run = await load(ctx, run_id)
    assert (run.warning, run.withheld_offer_ids) == (None, None)
    offers = await stored_offers(ctx, accounts.main.id)
    assert {e for e, offer in offers.items() if offer.missing_since is not None} == {
        GHOST + i for i in range(70)
    }


def test_the_withheld_message_says_how_many_and_why() -> None:
    """The decision and the warning an operator reads (run, status page, dashboard) for each
    reason: the reason code the screens and the API key on, and the message."""
    one = judge_missing(unseen=1, seen=5, counted=None, present=10, share=0.2)
    assert one == MissingDecision(
        False,
        "count_unknown",
        "eMAG's count of offers could not be read, so the run cannot show it read every "
        "offer: 1 offer it did not see was not marked missing",
    )
    short = judge_missing(unseen=2, seen=5, counted=6, present=10, share=0.2)
    assert short == MissingDecision(
        False,
        "count_short",
        "the run read 5 offers but eMAG counted 6: 2 offers it did not see were not marked missing",
    )
    share = judge_missing(unseen=3, seen=7, counted=7, present=10, share=0.25)
    assert share == MissingDecision(
        False,
        "share",
        "3 of the account's 10 offers (30.0 %) were not returned by eMAG, more than the 25 % "
        "one run may mark missing: they were not marked missing",
    )
    assert judge_missing(unseen=0, seen=0, counted=5, present=10, share=0.0) == MissingDecision(
        True
    )
    assert judge_missing(unseen=2, seen=7, counted=7, present=10, share=0.2) == MissingDecision(
        True
    )


def order_filters(
    after: str, before: str, since: datetime, until_: datetime, tz: tzinfo
) -> list[tuple[str, dict[str, Any]]]:
    """The counts an orders run sends: per order type, per window of ``[since, until_)``."""
    return [
        (
            "order",
            {
                "type": int(order_type),
                after: format_emag_datetime(start, tz),
                before: format_emag_datetime(stop, tz),
            },
        )
        for order_type in ALL_ORDER_TYPES
        for start, stop in order_windows(since, until_)
    ]


async def test_orders_are_read_since_the_last_watermark_less_the_overlap(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """What an orders run asks eMAG: an incremental run without an earlier one reads the orders
    modified in the last ``orders_full_days``; the next one those modified since the first one's
    watermark (the moment its plan was made) less 10 minutes, up to its own; a full run with
    ``since`` (stored without an offset by an older version) the orders created since that
    local time."""
    tz = platform_info(accounts.main.platform).tz
    engine, sources = shaped_engine(ctx, orders_full_days=30)

    first_id = await queue(ctx, accounts.main, SyncKind.orders, SyncMode.incremental)
    assert await engine.execute(first_id) == "completed"
    first = await load(ctx, first_id)
    assert first.checkpoint is not None
    upper = datetime.fromisoformat(first.checkpoint["upper_bound"])
    assert first.watermark == upper
    assert sources[-1].counted == order_filters(
        "modifiedAfter", "modifiedBefore", upper - timedelta(days=30), upper, tz
    )
    # Each page read once, each order created once (some windows hold none: an empty page).
    async with ctx.db.session() as session:
        stored = (
            await session.execute(
                select(EmagOrder.emag_id, EmagOrder.last_seen_run_id).where(
                    EmagOrder.account_id == accounts.main.id
                )
            )
        ).all()
    assert first.created_items == first.processed_items == first.total_items == len(stored) > 0
    assert {order.last_seen_run_id for order in stored} == {first_id}  # the run that read them
    assert first.updated_items == 0
    assert len(sources[-1].read) == first.total_pages == first.current_page

    second_id = await queue(ctx, accounts.main, SyncKind.orders, SyncMode.incremental)
    assert await engine.execute(second_id) == "completed"
    second = await load(ctx, second_id)
    assert second.checkpoint is not None
    upper2 = datetime.fromisoformat(second.checkpoint["upper_bound"])
    assert second.watermark == upper2
    assert sources[-1].counted == order_filters(
        "modifiedAfter", "modifiedBefore", upper - timedelta(minutes=10), upper2, tz
    )

    # No offset: the platform's local time, 40 days ago.
    since = (datetime.now(tz) - timedelta(days=40)).replace(tzinfo=None, microsecond=0)
    full_id = await queue(ctx, accounts.main, SyncKind.orders, params={"since": since.isoformat()})
    assert await engine.execute(full_id) == "completed"
    full = await load(ctx, full_id)
    assert full.checkpoint is not None
    upper3 = datetime.fromisoformat(full.checkpoint["upper_bound"])
    assert sources[-1].counted[0][1]["createdAfter"] == since.strftime("%Y-%m-%d %H:%M:%S")
    assert sources[-1].counted == order_filters(
        "createdAfter", "createdBefore", since.replace(tzinfo=tz), upper3, tz
    )


async def test_a_partial_orders_run_does_not_move_the_watermark(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    async def refuse(page: int) -> None:
        raise refusal("no orders today")

    engine, sources = shaped_engine(ctx, before_read=refuse, rounds=1, orders_full_days=1)
    run_id = await queue(ctx, accounts.main, SyncKind.orders)
    assert await engine.execute(run_id) == "partial"
    run = await load(ctx, run_id)
    assert run.watermark is None
    assert [resource for resource, _ in sources[0].counted] == ["order", "order"]


async def test_a_source_that_cannot_be_opened_fails_the_run(ctx: AppContext) -> None:
    """The eMAG client cannot even be set up: the run fails with a reference (the worker goes
    on), having made no eMAG call."""
    account = await make_account(ctx)

    @asynccontextmanager
    async def broken(credentials: AccountCredentials) -> AsyncIterator[EmagSource]:
        raise RuntimeError("no client for you")
        yield  # pragma: no cover

    events = _Events()
    run_id = await queue(ctx, account, SyncKind.offers)
    assert await SyncEngine(ctx, broken, events, EngineOptions()).execute(run_id) == "failed"
    run = await load(ctx, run_id)
    [entry] = run.errors
    assert entry["kind"] == "internal" and "no client" not in entry["message"]
    assert (run.api_calls, run.processed_items) == (0, 0)
    assert [seen[0] for seen in events.seen] == ["sync.started", "sync.failed"]


async def test_progress_counts_against_the_true_total_and_busy_writes_share_a_transaction(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """Page 3 (the last: 30 of 230 offers) is written first: the progress shows 30 of 230 at
    once, with an ETA for the 200 left at the run's pace. Pages 1 and 2 come back while that
    write is still busy: they are written together, in one transaction (one progress event)."""
    run_id = await queue(ctx, accounts.main, SyncKind.offers)

    async def after_page_3(page: int) -> None:
        if page != 3:
            await until(ctx, run_id, lambda run: run.processed_items == 30)

    async def hold_the_write() -> None:
        if len(events.views) == 2:  # started, then page 3's progress: wait for pages 1 and 2
            async with asyncio.timeout(60):
                while True:
                    if sorted(sources[0].returned) == [1, 2, 3]:
                        return
                    await asyncio.sleep(0.01)

    events = _Events(on_progress=hold_the_write)
    engine, sources = shaped_engine(ctx, before_read=after_page_3, publish=events)
    before = time.monotonic()
    assert await engine.execute(run_id) == "completed"
    progress = [(view, at) for kind, view, at in events.views if kind == "sync.progress"]
    assert [(v["processed_items"], v["total_items"]) for v, _ in progress] == [
        (30, 230),
        (230, 230),
    ]
    first, at = progress[0]
    assert first["percentage"] == 13.0
    # The pace: offers per second of this run so far (not less than over the whole wait)...
    pace = first["throughput_per_second"]
    assert pace >= 30 / (at - before) - 0.01
    # ... and the time left at that pace.
    assert abs(first["eta_seconds"] - 200 / pace) <= 0.06 + 200 * 0.005 / pace**2
    assert progress[-1][0]["eta_seconds"] == 0


async def test_offers_without_their_own_currency_get_the_platforms_and_a_history_entry(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """eMAG's offers read without a ``currency`` are stored in the platform's (RON on eMAG.ro);
    each offer seen for the first time starts its price history, and a run that finds nothing
    changed adds none."""

    def without_currency(row: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in row.items() if key != "currency"}

    engine, _ = shaped_engine(ctx, reshape=without_currency)
    for _ in range(2):
        run_id = await queue(ctx, accounts.main, SyncKind.offers)
        assert await engine.execute(run_id) == "completed"
        offers = await stored_offers(ctx, accounts.main.id)
        assert len(offers) == 230 and {offer.currency for offer in offers.values()} == {"RON"}
        async with ctx.db.session() as session:
            history = (
                await session.execute(
                    select(OfferHistory.emag_id).where(OfferHistory.account_id == accounts.main.id)
                )
            ).scalars()
            assert sorted(history) == sorted(offers)
