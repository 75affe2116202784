"""The sync engine: reads offers or orders of one account from eMAG into the database.

How a run goes (docs/architecture.md, "A sync run"):
1. *Plan*: ``count`` each segment (offers: one; orders: one per order type and per window of at
   most a month, docs/emag-protocol.md, "Paging, counts and filters") and store the plan in the
   run's ``checkpoint``, with totals.
2. *Pages*: fetched concurrently (the account's rate limiter paces them) while writers store
   them, each page in **one transaction together with the checkpoint** (the page numbers done)
   and the progress counters. Pages that arrive while the writers are busy share a transaction
   (fewer round trips per row), and on PostgreSQL several transactions run at once; a page
   holding an id that a write in flight holds waits for it (see ``_pages``). Rows are upserted
   by (account_id, eMAG id), so a page written twice changes nothing; customers move by deltas
   (see ``customers.service``). Orders are stored by ``orders.service.store_orders``, the one
   function the order actions use too; offers are mapped by ``catalog.mapping``.
3. *Resume*: a run found in ``running`` with a stale heartbeat (its process died) is executed
   again with the same id; the stored plan is reused and only pages not in the checkpoint are
   fetched, so the final state equals an uninterrupted run's.
4. *Finish*: pages that failed after the client's retries are retried in further rounds with
   backoff; what still fails makes the run ``partial`` with eMAG's messages in ``errors``. Only a
   complete orders run advances the incremental watermark. Only a complete offers run marks the
   offers it did not see missing, and only when :func:`judge_missing` lets it: otherwise the run
   completes with a ``warning`` and the withheld offers wait for an operator's confirmation
   (``sync.service.confirm_missing``).

eMAG's ``count`` only sizes the plan: page 1 of every segment is read whatever it says (a count
of 0, an unreadable one or none at all, docs/emag-protocol.md, "Paging, counts and filters"), and
a full last page makes the engine read on, so the pages, not the count, decide what is read.

An authentication refusal (bad credentials, or ``ERROR: Invalid vendor ip [...]``: the server's IP
is not whitelisted, docs/emag-protocol.md, "Answers and errors") fails the run at once, with
eMAG's message and the hint of the error in ``errors``: no page, round or retry could succeed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.accounts.service import AccountCredentials
from magflow.catalog import repository as catalog_repository
from magflow.catalog.mapping import offer_row
from magflow.common.dates import in_zone
from magflow.context import AppContext
from magflow.emag.codes import ALL_ORDER_TYPES
from magflow.emag.coerce import to_int
from magflow.emag.dates import format_emag_datetime
from magflow.emag.errors import EmagAuthError, EmagError
from magflow.emag.metrics import ClientStats
from magflow.emag.platforms import platform_info
from magflow.emag.schemas import CountResult
from magflow.orders import service as orders_service
from magflow.pricing import history as offer_history
from magflow.sync import repository
from magflow.sync import service as sync_service
from magflow.sync.models import SyncKind, SyncLog, SyncMode, SyncStatus
from magflow.sync.plan import Plan, Segment, order_windows

log = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
ITEMS_PER_PAGE = 100
MILESTONES = (25, 50, 75, 100)


class EmagSource(Protocol):
    """What the engine uses of :class:`~magflow.emag.client.EmagClient` (the client of one
    account is the source; tests may wrap one to shape what it answers)."""

    stats: ClientStats

    async def count(self, resource: str, filters: dict[str, Any]) -> CountResult: ...

    async def read_rows(
        self, resource: str, filters: dict[str, Any], page: int, items_per_page: int
    ) -> list[dict[str, Any]]: ...

    async def vat_rates(self) -> dict[int, Decimal]: ...


SourceFactory = Callable[[AccountCredentials], AbstractAsyncContextManager[EmagSource]]
Publisher = Callable[[str, SyncLog, dict[str, Any]], Awaitable[None]]


async def _no_publish(event_type: str, run: SyncLog, data: dict[str, Any]) -> None:
    return None


@dataclass
class EngineOptions:
    concurrency: int = 4
    writers: int = 1
    pages_per_write: int = 4
    rounds: int = 3
    round_backoff_seconds: float = 2.0
    orders_full_days: int = 90
    incremental_overlap: timedelta = timedelta(minutes=10)
    heartbeat_seconds: float = 5.0
    missing_guard_share: float = 0.20


class RunCancelledError(Exception):
    pass


@dataclass(frozen=True)
class MissingDecision:
    """Whether a complete offers run may mark the offers it did not see missing; when not,
    ``reason`` (``count_unknown``, ``count_short``, ``share``) and a message saying why."""

    mark: bool
    reason: str | None = None
    message: str | None = None


def judge_missing(
    *, unseen: int, seen: int, counted: int | None, present: int, share: float
) -> MissingDecision:
    """May a complete offers run mark its ``unseen`` offers missing?

    ``seen``: distinct offers the run read; ``counted``: what eMAG's ``count`` said (None:
    unreadable or absent, docs/emag-protocol.md, "Paging, counts and filters"); ``present``: the
    account's offers not yet missing, ``unseen`` included; ``share``: the largest share of them
    one run may mark (``MAGFLOW_MISSING_GUARD_SHARE``).

    An offer eMAG no longer returns is marked only when the run can show it read everything:
    every page (the caller's condition) *and* at least as many offers as eMAG counted (fewer
    means offers slid between pages, or eMAG answered short pages: the unseen ones may still
    exist); a count that cannot be read proves nothing, so nothing is marked. Even then, more
    than ``share`` x ``present`` offers gone at once is more likely a bad answer than a seller
    removing that much of the catalog, so it waits for an operator. The share is compared as
    ``unseen > share * present``: exactly the share is allowed.
    """
    if unseen == 0:
        return MissingDecision(True)
    withheld = (
        f"{unseen} offers it did not see were" if unseen != 1 else "1 offer it did not see was"
    )
    if counted is None:
        return MissingDecision(
            False,
            "count_unknown",
            f"eMAG's count of offers could not be read, so the run cannot show it read every "
            f"offer: {withheld} not marked missing",
        )
    if seen < counted:
        return MissingDecision(
            False,
            "count_short",
            f"the run read {seen} offers but eMAG counted {counted}: {withheld} not marked missing",
        )
    if unseen > share * present:
        return MissingDecision(
            False,
            "share",
            f"{unseen} of the account's {present} offers ({100 * unseen / present:.1f} %) were "
            f"not returned by eMAG, more than the {100 * share:g} % one run may mark missing: "
            "they were not marked missing",
        )
    return MissingDecision(True)


class SyncEngine:
    def __init__(
        self,
        ctx: AppContext,
        source_factory: SourceFactory,
        publish: Publisher = _no_publish,
        options: EngineOptions | None = None,
    ) -> None:
        self.ctx = ctx
        self.source_factory = source_factory
        self.publish = publish
        self.options = options or EngineOptions()

    # -- entry point ---------------------------------------------------------------------------

    async def execute(self, run_id: int) -> str:
        """Run (or resume) ``run_id`` to a final status and return it."""
        async with self.ctx.db.session() as session:
            run = await repository.get(session, run_id)
            if run is None or not SyncStatus(run.status).is_active:
                return run.status if run else "missing"
            account = await accounts_service.get_account(session, run.account_id or 0)
            credentials = accounts_service.credentials(self.ctx.cipher, account)
            # A resumed run adds this attempt's eMAG calls to those recorded before.
            progress = _Progress(
                started=time.monotonic(),
                base_calls=run.api_calls,
                base_retries=run.retries,
                base_limited=run.rate_limited,
            )
            now = datetime.now(UTC)
            resumed = run.status == SyncStatus.running.value
            run.status = SyncStatus.running.value
            run.started_at = run.started_at or now
            run.heartbeat_at = now
            run.worker_id = WORKER_ID
            await session.commit()
            await self.publish("sync.started", run, {"resumed": resumed})

        heartbeat = asyncio.create_task(self._heartbeat(run_id))
        # Kept past the source's context: a failed or cancelled run records the eMAG calls,
        # retries and 429s it made too.
        opened: EmagSource | None = None
        try:
            async with self.source_factory(credentials) as source:
                opened = source
                return await self._run(run_id, credentials, source, progress)
        except RunCancelledError:
            return await self._finish(run_id, SyncStatus.cancelled, None, None, opened, progress)
        except EmagError as exc:
            log.warning("sync run %s failed: %s", run_id, exc)
            return await self._finish(
                run_id, SyncStatus.failed, None, self._error(exc, page=None), opened, progress
            )
        except Exception as exc:  # logged with a reference; users see only the reference
            return await self._finish(
                run_id,
                SyncStatus.failed,
                None,
                sync_service.crash_error(exc, run_id),
                opened,
                progress,
            )
        finally:
            heartbeat.cancel()

    # -- the run -------------------------------------------------------------------------------

    async def _run(
        self,
        run_id: int,
        credentials: AccountCredentials,
        source: EmagSource,
        progress: _Progress,
    ) -> str:
        async with self.ctx.db.session() as session:
            run = await self._get(session, run_id)
            kind, mode, checkpoint = SyncKind(run.kind), SyncMode(run.mode), run.checkpoint
            params = dict(run.params or {})
        if checkpoint:
            plan = Plan.from_json(checkpoint)
        else:
            plan = await self._plan(kind, mode, credentials, source, params)
            async with self.ctx.db.session() as session:
                await repository.set_fields(
                    session,
                    run_id,
                    checkpoint=plan.to_json(),
                    total_items=plan.total_items,
                    total_pages=plan.total_pages,
                )
                await session.commit()

        for round_number in range(1, self.options.rounds + 1):
            pending = plan.pending()
            if not pending:
                break
            if round_number > 1:
                delay = self.options.round_backoff_seconds * 2 ** (round_number - 2)
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
            await self._pages(run_id, kind, credentials, source, plan, pending, progress)

        failed = plan.pending()
        if not failed and kind is SyncKind.offers:
            await self._settle_missing(run_id, credentials.account_id, plan)
        status = SyncStatus.partial if failed else SyncStatus.completed
        watermark = plan.upper_bound if kind is SyncKind.orders and not failed else None
        return await self._finish(run_id, status, watermark, None, source, progress)

    async def _plan(
        self,
        kind: SyncKind,
        mode: SyncMode,
        credentials: AccountCredentials,
        source: EmagSource,
        params: dict[str, Any],
    ) -> Plan:
        now = datetime.now(UTC).replace(microsecond=0)
        tz = platform_info(credentials.platform).tz
        specs: list[tuple[str, dict[str, Any]]] = []
        vat_rates: dict[int, Decimal] = {}
        if kind is SyncKind.offers:
            vat_rates = await source.vat_rates()
            specs.append(("product_offer", {}))
        else:
            if mode is SyncMode.incremental:
                async with self.ctx.db.session() as session:
                    previous = await repository.last_completed(
                        session, credentials.account_id, SyncKind.orders.value
                    )
                since = (
                    previous.watermark - self.options.incremental_overlap
                    if previous is not None and previous.watermark is not None
                    else now - timedelta(days=self.options.orders_full_days)
                )
                field_after, field_before = "modifiedAfter", "modifiedBefore"
            else:
                # Stored with its offset by the API/CLI; a value without one (a run queued by
                # an older version) is the platform's local time, never a naive crash.
                since = (
                    in_zone(datetime.fromisoformat(params["since"]), tz)
                    if params.get("since")
                    else now - timedelta(days=self.options.orders_full_days)
                )
                field_after, field_before = "createdAfter", "createdBefore"
            # The type is per order and any account may have both; order/read defaults to the
            # seller's type, FBE orders appear only when asked (docs/emag-protocol.md, "Orders").
            for order_type in ALL_ORDER_TYPES:
                for start, stop in order_windows(since, now):
                    specs.append(
                        (
                            "order",
                            {
                                "type": int(order_type),
                                field_after: format_emag_datetime(start, tz),
                                field_before: format_emag_datetime(stop, tz),
                            },
                        )
                    )
        segments = []
        for resource, filters in specs:
            counted = await source.count(resource, filters)
            # A count of 0, an unreadable one or none at all still reads page 1 (the pages, not
            # the count, decide: docs/emag-protocol.md, "Paging, counts and filters").
            number = counted.no_of_items
            known = number if number is not None and number >= 0 else None
            pages = max(1, counted.pages(ITEMS_PER_PAGE) or 0)
            segments.append(Segment(resource, filters, known or 0, pages, counted=known))
        return Plan(segments=segments, upper_bound=now, vat_rates=vat_rates)

    async def _pages(
        self,
        run_id: int,
        kind: SyncKind,
        credentials: AccountCredentials,
        source: EmagSource,
        plan: Plan,
        pending: list[tuple[int, int]],
        progress: _Progress,
    ) -> None:
        """Fetch ``pending`` pages concurrently; write each as it arrives, in one transaction."""
        work: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
        for item in pending:
            work.put_nowait(item)
        results: asyncio.Queue[tuple[int, int, list[dict[str, Any]] | EmagError]] = asyncio.Queue(
            maxsize=self.options.concurrency * 2
        )
        outstanding = len(pending)

        async def fetcher() -> None:
            while True:
                item = await work.get()
                if item is None:
                    return
                index, page = item
                segment = plan.segments[index]
                try:
                    rows = await source.read_rows(
                        segment.resource, segment.filters, page, ITEMS_PER_PAGE
                    )
                except EmagAuthError:
                    raise
                except EmagError as exc:
                    await results.put((index, page, exc))
                else:
                    await results.put((index, page, rows))

        fetchers = [asyncio.create_task(fetcher()) for _ in range(self.options.concurrency)]
        # Pages being written: task -> the eMAG ids of its rows. A page sharing an id with one in
        # flight waits for it, so one order is never counted twice into customer deltas and two
        # writers never wait on each other's rows.
        writing: dict[asyncio.Task[Any], set[int | None]] = {}

        async def settle(blocked: Callable[[], bool]) -> None:
            """Wait for writes to finish while ``blocked()``; a failed write raises here."""
            while blocked():
                finished, _ = await asyncio.wait(writing, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    del writing[task]
                    task.result()

        try:
            while outstanding:
                getter = asyncio.create_task(results.get())
                done, _ = await asyncio.wait(
                    [getter, *fetchers, *writing], return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    if task is not getter:
                        task.result()  # re-raises a fetcher's fatal error (auth), a write's error
                        writing.pop(task, None)
                if getter not in done:
                    getter.cancel()
                    continue
                ready = [getter.result()]
                await settle(lambda: len(writing) >= self.options.writers)
                # Pages that arrived meanwhile go in the same transaction: fewer round trips per
                # row when the database is the bottleneck, one page at a time when eMAG is.
                while len(ready) < self.options.pages_per_write and not results.empty():
                    ready.append(results.get_nowait())
                outstanding -= len(ready)
                batch: list[tuple[Segment, int, list[dict[str, Any]]]] = []
                for index, page, outcome in ready:
                    segment = plan.segments[index]
                    if isinstance(outcome, EmagError):
                        await self._record_page_error(run_id, outcome, page, segment)
                        continue
                    if page == segment.pages:
                        if len(outcome) == ITEMS_PER_PAGE:
                            # Maybe more than counted (new items arrived): read on to a short page.
                            segment.pages += 1
                            work.put_nowait((index, segment.pages))
                            outstanding += 1
                        # The last page tells the true size (offset pagination: the rest are full).
                        segment.items = (page - 1) * ITEMS_PER_PAGE + len(outcome)
                    batch.append((segment, page, outcome))
                if not batch:
                    continue
                # by the id as stored ("12" and 12 are one order; see magflow.emag.coerce)
                ids = {to_int(row.get("id")) for _, _, rows in batch for row in rows}

                def overlapping(ids: set[int | None] = ids) -> bool:
                    return any(held & ids for held in writing.values())

                await settle(overlapping)
                write = self._write_pages(run_id, kind, credentials, plan, batch, progress, source)
                writing[asyncio.create_task(write)] = ids
            await settle(lambda: bool(writing))
        finally:
            for _ in fetchers:
                work.put_nowait(None)
            for task in [*fetchers, *writing]:
                task.cancel()
            await asyncio.gather(*fetchers, *writing, return_exceptions=True)

    async def _write_pages(
        self,
        run_id: int,
        kind: SyncKind,
        credentials: AccountCredentials,
        plan: Plan,
        batch: list[tuple[Segment, int, list[dict[str, Any]]]],
        progress: _Progress,
        source: EmagSource,
    ) -> None:
        """Write pages and, in the same transaction, the checkpoint and counters.

        Several batches are written at once (``EngineOptions.writers``), each in its own
        session; the bookkeeping (read the run, add these pages, commit) is serialised by
        ``progress.commit`` so each checkpoint holds exactly the pages committed before it plus
        its own. A cancelled run's pending write is rolled back with its session.
        """
        now = datetime.now(UTC)
        rows = [row for _, _, page_rows in batch for row in page_rows]
        async with self.ctx.db.session() as session:
            created = updated = 0
            if rows:
                if kind is SyncKind.offers:
                    created, updated = await self._write_offers(
                        session, run_id, credentials, plan, rows, now
                    )
                else:
                    stored = await orders_service.store_orders(
                        session,
                        account_id=credentials.account_id,
                        platform=credentials.platform,
                        raw_orders=rows,
                        now=now,
                        run_id=run_id,
                    )
                    created, updated = stored.created, stored.updated
            async with progress.commit:
                for segment, page, _ in batch:
                    segment.done.add(page)
                progress.items += len(rows)
                try:
                    run = await self._get(session, run_id)
                    if run.cancel_requested:
                        raise RunCancelledError
                    elapsed = max(time.monotonic() - progress.started, 1e-6)
                    throughput = progress.items / elapsed
                    run.processed_items += len(rows)
                    run.created_items += created
                    run.updated_items += updated
                    run.current_page = plan.pages_done
                    run.total_pages = plan.total_pages
                    run.total_items = max(plan.total_items, run.processed_items)
                    run.throughput = round(throughput, 2)
                    remaining = max(0, (run.total_items or 0) - run.processed_items)
                    run.eta_seconds = round(remaining / throughput, 1) if throughput > 0 else None
                    run.heartbeat_at = now
                    run.checkpoint = plan.to_json()
                    progress.record_calls(run, source)
                    await session.commit()
                except BaseException:
                    for segment, page, _ in batch:
                        segment.done.discard(page)
                    progress.items -= len(rows)
                    raise
            view_percentage = (
                100.0 * run.processed_items / run.total_items if run.total_items else 0
            )
            await self.publish("sync.progress", run, {})
            for milestone in MILESTONES:
                if milestone not in progress.milestones and view_percentage >= milestone:
                    progress.milestones.add(milestone)
                    await self.publish("sync.milestone", run, {"milestone": milestone})

    async def _write_offers(
        self,
        session: AsyncSession,
        run_id: int,
        credentials: AccountCredentials,
        plan: Plan,
        raws: list[dict[str, Any]],
        now: datetime,
    ) -> tuple[int, int]:
        currency = platform_info(credentials.platform).currency
        rows = {}
        for raw in raws:
            row = offer_row(
                raw,
                account_id=credentials.account_id,
                run_id=run_id,
                now=now,
                currency=currency,
                vat_rates=plan.vat_rates,
            )
            if row["emag_id"] is not None:
                rows[row["emag_id"]] = {**row, "created_at": now}
        ordered = [rows[emag_id] for emag_id in sorted(rows)]
        # Before the upsert: the history compares each row with the stored offer.
        await offer_history.record_changes(session, credentials.account_id, ordered, now)
        created = await catalog_repository.upsert_offers(session, credentials.account_id, ordered)
        return created, len(rows) - created

    async def _settle_missing(self, run_id: int, account_id: int, plan: Plan) -> None:
        """After a complete offers run: mark the offers it did not see missing, or withhold them
        with a warning on the run (:func:`judge_missing`). One transaction; a resumed run that
        gets here again decides again from the same rows (marked offers are no longer
        candidates, so nothing is marked twice)."""
        counts = [segment.counted for segment in plan.segments]
        counted = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
        share = self.options.missing_guard_share
        async with self.ctx.db.session() as session:
            run = await self._get(session, run_id)
            unseen = await catalog_repository.unseen_ids(session, account_id, run_id)
            seen = await catalog_repository.seen_count(session, account_id, run_id)
            present = await catalog_repository.present_count(session, account_id)
            decision = judge_missing(
                unseen=len(unseen), seen=seen, counted=counted, present=present, share=share
            )
            if decision.mark:
                missing = await catalog_repository.mark_missing(
                    session, account_id, unseen, run_id, datetime.now(UTC)
                )
                run.warning = None
                run.withheld_offer_ids = None
                if missing:
                    log.info("run %s: %d offers no longer on eMAG, marked missing", run_id, missing)
            else:
                log.warning("run %s: %s", run_id, decision.message)
                run.warning = {
                    "code": "missing_withheld",
                    "reason": decision.reason,
                    "message": decision.message,
                    "withheld": len(unseen),
                    "seen": seen,
                    "counted": counted,
                    "present": present,
                    "share_limit": share,
                }
                run.withheld_offer_ids = unseen
            await session.commit()

    # -- bookkeeping ---------------------------------------------------------------------------

    async def _record_page_error(
        self, run_id: int, error: EmagError, page: int, segment: Segment
    ) -> None:
        async with self.ctx.db.session() as session:
            run = await self._get(session, run_id)
            entry = self._error(error, page=page)
            entry["filters"] = segment.filters
            run.errors = [*run.errors[-99:], entry]
            run.heartbeat_at = datetime.now(UTC)
            await session.commit()

    @staticmethod
    def _error(error: EmagError, *, page: int | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(),
            "page": page,
            "kind": type(error).__name__,
            "status_code": getattr(error, "status_code", None),
            "messages": list(getattr(error, "messages", []) or [str(error)]),
        }
        if error.hint is not None:  # e.g. "whitelist this server's IP" (EmagIpNotWhitelistedError)
            entry["hint"] = error.hint
        return entry

    async def _finish(
        self,
        run_id: int,
        status: SyncStatus,
        watermark: datetime | None,
        error: dict[str, Any] | None,
        source: EmagSource | None = None,
        progress: _Progress | None = None,
    ) -> str:
        async with self.ctx.db.session() as session:
            run = await self._get(session, run_id)
            now = datetime.now(UTC)
            run.status = status.value
            run.finished_at = now
            run.heartbeat_at = now
            run.eta_seconds = 0 if status is SyncStatus.completed else None
            if watermark is not None:
                run.watermark = watermark
            if source is not None and progress is not None:
                progress.record_calls(run, source)
            if error is not None:
                run.errors = [*run.errors[-99:], error]
            if status is SyncStatus.partial:
                checkpoint = Plan.from_json(run.checkpoint) if run.checkpoint else None
                missing = len(checkpoint.pending()) if checkpoint else 0
                run.failed_items = min(run.total_items or 0, missing * ITEMS_PER_PAGE)
            await session.commit()
            data: dict[str, Any] = {}
            if run.errors and status is not SyncStatus.completed:
                data["message"] = "; ".join(
                    run.errors[-1].get("messages") or [run.errors[-1].get("message", "")]
                )
            if status is SyncStatus.completed and run.warning:
                data["warning"] = run.warning.get("message")
            await self.publish(f"sync.{status.value}", run, data)
            return run.status

    async def _heartbeat(self, run_id: int) -> None:
        while True:
            await asyncio.sleep(self.options.heartbeat_seconds)
            try:
                async with self.ctx.db.session() as session:
                    await repository.set_fields(session, run_id, heartbeat_at=datetime.now(UTC))
                    await session.commit()
            except Exception:  # a missed beat is not fatal; the next page write beats too
                log.debug("heartbeat for run %s failed", run_id, exc_info=True)

    @staticmethod
    async def _get(session: AsyncSession, run_id: int) -> SyncLog:
        run = await repository.get(session, run_id)
        if run is None:
            raise LookupError(f"sync run {run_id} vanished")
        return run


@dataclass
class _Progress:
    started: float
    items: int = 0
    base_calls: int = 0
    base_retries: int = 0
    base_limited: int = 0
    milestones: set[int] = field(default_factory=set)
    commit: asyncio.Lock = field(default_factory=asyncio.Lock)

    def record_calls(self, run: SyncLog, source: EmagSource) -> None:
        """The run's eMAG calls, retries and 429s: those of earlier attempts plus this one's."""
        stats = source.stats
        run.api_calls = self.base_calls + stats.api_calls
        run.retries = self.base_retries + stats.retries
        run.rate_limited = self.base_limited + stats.rate_limited
