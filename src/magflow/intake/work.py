"""The intake job of one account: read the announced orders from eMAG, store them and, when the
account's ``auto_acknowledge`` is on, acknowledge the new ones; and the catch-up poll.

Why a job per account rather than per callback: eMAG's order routes allow 12 requests a second and
720 a minute per account (docs/emag-protocol.md, "Rate and size limits"), and a busy account's
callbacks arrive several a second. One job drains every pending order of its account
(:meth:`IntakeWorker._drain`): it *claims* them in batches (a database claim, so two processes
never work on one order), reads them (one ``order/read`` when one order is waiting; otherwise the
account's new orders, 100 to a request, filtered by status 1, and by id those not among them),
stores them with :func:`magflow.orders.service.store_orders`, the one place an order is stored,
and acknowledges them as :class:`magflow.orders.actions.OrderActions` does (the eMAG client, one
audit log entry per order), several at once and recorded in one transaction per chunk, while the
next batch is read. The acknowledgement skips the re-read that follows a person's: the order was
read a moment before, and its status after acknowledgement is known (2).

The budget: an order costs one acknowledgement plus its share of the reads (one request per batch,
batches at least half a second apart: at most 120 a minute), so an account takes about 600 new
orders a minute for good, more in bursts. A re-read per order would have halved that.

Rules (docs/emag-protocol.md, "Orders", "Callbacks"):

- only an order eMAG shows in status 1 (new) and of type 3 is acknowledged: type 2 (fulfilled by
  eMAG) cannot be, and an order already past 1, or cancelled before acknowledgement, needs none;
- an order eMAG does not know is marked ``unknown`` and logged; nothing else happens;
- eMAG down or refusing: the orders stay pending, their claim is given back, and they are tried
  again :data:`RETRY_SECONDS` later (the maintenance timer dispatches them), while the catch-up
  poll goes on finding new orders; nothing is lost;
- eMAG refusing this server's IP (``ERROR: Invalid vendor ip [...]``, docs/emag-protocol.md,
  "Answers and errors") lasts until the seller whitelists it, so retrying soon only hammers eMAG:
  the job stops at the first such answer, and the account's pending orders and its poll wait
  ``IP_REFUSAL_PAUSE`` (``jobs.schedule``, as the schedules do; :meth:`IntakeWorker._refused`).
  A job started meanwhile (a callback, the timer) calls eMAG for nothing; a sync run refused for
  the IP pauses the intake the same way. A sync run that gets through after the refusal (the
  seller whitelisted the IP and started a sync, as the hint says) lifts the hold at once
  (:func:`lift_hold`), as it resumes the schedules.

The catch-up poll (``poll=True``, every ``MAGFLOW_INTAKE_POLL_SECONDS``, 60 s by default) is for
callbacks that never came: one ``order/count`` of the account's new (status 1) seller-fulfilled
orders and, usually, one page of them (docs/emag-protocol.md, "Callbacks"). Orders it finds that
have no intake row get one; orders still new on eMAG whose row is finished are worked again when
the account acknowledges automatically (an acknowledgement that was lost, or ``auto_acknowledge``
turned on since).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.audit.service import SYSTEM, Auditor, Outcome
from magflow.context import AppContext
from magflow.emag.client import EmagClient
from magflow.emag.codes import OrderStatus
from magflow.emag.coerce import to_int
from magflow.emag.errors import IP_WHITELIST_HINT, EmagError, EmagIpNotWhitelistedError
from magflow.intake import repository
from magflow.intake.models import IntakeState
from magflow.jobs.base import WORKER_ID
from magflow.jobs.schedule import IP_REFUSAL_PAUSE
from magflow.orders.service import store_orders
from magflow.returns.service import store_returns

log = logging.getLogger(__name__)

#: Seconds before orders whose read or acknowledgement failed are tried again.
RETRY_SECONDS = 30.0
#: Orders claimed (and read) at once.
BATCH = 100
#: Seconds at least between two batches of one job.
BATCH_INTERVAL = 0.5
#: No new batch while this many acknowledgements wait.
ACK_QUEUE = 50
#: Chunks of acknowledgements (``MAGFLOW_INTAKE_ACK_CONCURRENCY`` orders each) sent at once.
ACK_CHUNKS = 3
#: Up to this many orders are read one ``order/read`` each; more are read as pages of new orders
#: (usually one request for up to 100 orders).
SINGLE_READS = 1
#: Pages of new orders read at most by one poll or one batch (100 orders each).
MAX_PAGES = 10
PAGE_SIZE = 100
#: An order eMAG still shows as new this long after MagFlow acknowledged it is acknowledged again.
REACK_AFTER_SECONDS = 120.0
SELLER_FULFILLED = 3
FULFILLED_BY_EMAG = 2


@dataclass
class IntakeReport:
    """What one job did, for logs and tests."""

    account_id: int
    polled: int = 0
    stored: int = 0
    acknowledged: int = 0
    unknown: int = 0
    postponed: int = 0
    #: returns stored for return callbacks
    returns: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)
    #: eMAG refused this server's IP (now or in a sync run): the intake waits until then.
    held_until: datetime | None = None


def _now() -> datetime:
    return datetime.now(UTC)


async def read_new_orders(client: EmagClient) -> dict[int, dict[str, Any]]:
    """The account's new (status 1) seller-fulfilled orders, by id: a count, then pages of 100
    (at most :data:`MAX_PAGES`) (docs/emag-protocol.md, "Paging, counts and filters")."""
    found: dict[int, dict[str, Any]] = {}
    filters = {"status": int(OrderStatus.NEW), "type": SELLER_FULFILLED}
    pages = 0
    async for page in client.iter_pages("order", filters):
        for row in page.rows:
            order_id = to_int(row.get("id"))
            if order_id is not None:
                found[order_id] = row
        pages += 1
        if pages >= MAX_PAGES:
            break
    return found


async def read_orders(
    client: EmagClient, account: EmagAccount, order_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """``order_ids`` as eMAG has them (missing: eMAG does not know them). ``order/read`` defaults
    to type 3 (docs/emag-protocol.md, "Orders"): an order not found as type 3 is looked for as
    type 2 (FBE), on every account, since the type is a property of each order, not of the
    account (issue 13, point 4)."""
    found: dict[int, dict[str, Any]] = {}
    wanted = set(order_ids)
    filters = {"status": int(OrderStatus.NEW), "type": SELLER_FULFILLED}
    page = 1
    while len(order_ids) > SINGLE_READS and page <= MAX_PAGES and not wanted <= found.keys():
        # Pages of new orders, without a count: the orders sought are usually all on the first
        # (one request); a full page may have more after it, a short one ends the listing here
        # (what it missed is read by id below).
        rows = await client.read_rows("order", filters, page, PAGE_SIZE)
        for row in rows:
            order_id = to_int(row.get("id"))
            if order_id in wanted:
                found[order_id] = row
        if len(rows) < PAGE_SIZE:
            break
        page += 1
    types = [SELLER_FULFILLED, FULFILLED_BY_EMAG]
    for order_id in order_ids:
        for order_type in types:
            if order_id in found:
                break
            rows = await client.read_rows("order", {"id": order_id, "type": order_type})
            for row in rows:
                if to_int(row.get("id")) == order_id:
                    found[order_id] = row
    return found


def _acknowledged(_result: Any) -> Outcome:
    return Outcome(status_code=200, success=True, messages=[])


class IntakeWorker:
    """Executes intake jobs (in the API process or a ``magflow worker``)."""

    def __init__(self, ctx: AppContext, worker_id: str = WORKER_ID) -> None:
        self.ctx = ctx
        self.worker_id = worker_id

    async def execute(self, account_id: int, *, poll: bool = False) -> IntakeReport:
        report = IntakeReport(account_id)
        async with self.ctx.db.session() as session:
            account = await accounts_service.get_account(session, account_id)
            credentials = accounts_service.credentials(self.ctx.cipher, account)
        if not account.is_active:
            log.warning("intake: account %s is disabled; its orders wait", account.name)
            return report
        prefetched: dict[int, dict[str, Any]] = {}
        if await self._held(account, report):
            return report
        async with self.ctx.emag_client(credentials) as client:
            if poll:
                try:
                    prefetched = await self._poll(client, account, report)
                except EmagIpNotWhitelistedError as exc:
                    await self._refused(account, exc, report)
                    return report
                except EmagError as exc:
                    log.warning(
                        "intake poll of account %s failed (%s); the next poll tries again",
                        account.name,
                        exc.summary,
                    )
            await self._drain(client, account, prefetched, report)
        if report.stored or report.unknown or report.postponed:
            log.info(
                "intake of account %s: %s stored, %s acknowledged, %s unknown to eMAG, %s to retry",
                account.name,
                report.stored,
                report.acknowledged,
                report.unknown,
                report.postponed,
            )
        return report

    async def _drain(
        self,
        client: EmagClient,
        account: EmagAccount,
        prefetched: dict[int, dict[str, Any]],
        report: IntakeReport,
    ) -> None:
        """Claim, read and store batches of pending orders while their acknowledgements run in
        the background (in chunks of ``MAGFLOW_INTAKE_ACK_CONCURRENCY``, :data:`ACK_CHUNKS`
        chunks at once), until nothing is pending and every acknowledgement is done.

        Batches are at least :data:`BATCH_INTERVAL` apart, so that reads take at most two
        requests a second of the account's order budget and acknowledgements get the rest; and
        no batch is claimed while :data:`ACK_QUEUE` acknowledgements wait, so that a claim never
        outlives its staleness (``MAGFLOW_SYNC_STALE_SECONDS``) waiting for its turn."""
        size = self.ctx.settings.intake_ack_concurrency
        slots = asyncio.Semaphore(ACK_CHUNKS)
        acks: set[asyncio.Task[None]] = set()
        last_batch = -BATCH_INTERVAL
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(max(0.0, last_batch + BATCH_INTERVAL - loop.time()))
                claimed: list[int] = []
                if report.held_until is not None:
                    return  # eMAG refused the IP (an acknowledgement): nothing more is sent
                if len(acks) * size < ACK_QUEUE:
                    async with self.ctx.db.session() as session:
                        now = _now()
                        stale = now - timedelta(seconds=self.ctx.settings.sync_stale_seconds)
                        claimed = await repository.claim(
                            session, account.id, self.worker_id, now, stale, BATCH
                        )
                        await session.commit()
                if not claimed:
                    if not acks:
                        return
                    await asyncio.wait(
                        acks, timeout=BATCH_INTERVAL, return_when=asyncio.FIRST_COMPLETED
                    )
                    continue
                last_batch = loop.time()
                to_ack = await self._handle(client, account, claimed, prefetched, report)
                if report.held_until is not None:
                    return  # eMAG refused the IP: nothing more is sent (the module doc)
                for start in range(0, len(to_ack), size):
                    chunk = to_ack[start : start + size]
                    task = asyncio.create_task(
                        self._acknowledge(client, account, chunk, slots, report)
                    )
                    acks.add(task)
                    task.add_done_callback(acks.discard)
        finally:
            for task in acks:
                task.cancel()
            await asyncio.gather(*acks, return_exceptions=True)

    async def _poll(
        self, client: EmagClient, account: EmagAccount, report: IntakeReport
    ) -> dict[int, dict[str, Any]]:
        new_orders = await read_new_orders(client)
        report.polled = len(new_orders)
        if not new_orders:
            return {}
        async with self.ctx.db.session() as session:
            now = _now()
            ids = list(new_orders)
            inserted = await repository.add_if_absent(session, account.id, ids, "poll", now)
            if account.auto_acknowledge:
                # Still new on eMAG although finished here: acknowledge (again), unless it was
                # acknowledged a moment ago (the read above may predate that).
                await repository.reopen(
                    session,
                    account.id,
                    [i for i in ids if i not in inserted],
                    now,
                    acknowledged_before=now - timedelta(seconds=REACK_AFTER_SECONDS),
                )
            await session.commit()
        if inserted:
            log.info(
                "intake poll of account %s found %s new orders no callback announced",
                account.name,
                len(inserted),
            )
        return new_orders

    async def _handle(
        self,
        client: EmagClient,
        account: EmagAccount,
        claimed: list[int],
        prefetched: dict[int, dict[str, Any]],
        report: IntakeReport,
    ) -> list[tuple[int, int]]:
        """Read and store ``claimed``; finish those that need no acknowledgement; return the
        (eMAG id, local id) of those that do."""
        raws = {i: prefetched.pop(i) for i in claimed if i in prefetched}
        missing = [i for i in claimed if i not in raws]
        try:
            raws.update(await read_orders(client, account, missing))
        except EmagIpNotWhitelistedError as exc:
            await self._refused(account, exc, report)
            return []
        except EmagError as exc:
            await self._postpone(account, missing, f"reading from eMAG failed: {exc.summary}")
            report.postponed += len(missing)
            log.warning(
                "intake of account %s: reading %s orders from eMAG failed (%s); retried in %s s",
                account.name,
                len(missing),
                exc.summary,
                int(RETRY_SECONDS),
            )
            missing_set = set(missing)
            claimed = [i for i in claimed if i not in missing_set]
        returns = await self._read_returns(client, account, claimed, report)
        if returns is None:
            return []
        raw_returns, failed, returns_read = returns
        claimed = [i for i in claimed if i not in failed]
        to_ack = []
        async with self.ctx.db.session() as session:
            now = _now()
            if raw_returns:
                stored_returns = await store_returns(session, account, raw_returns, now)
                report.returns += stored_returns
                log.info(
                    "intake of account %s: %s returns stored (return callbacks)",
                    account.name,
                    stored_returns,
                )
            if raws:
                await store_orders(
                    session,
                    account_id=account.id,
                    platform=account.platform,
                    raw_orders=list(raws.values()),
                    now=now,
                )
            stored = await repository.stored_orders(session, account.id, list(raws))
            for order_id in claimed:
                order = stored.get(order_id)
                if order is None:
                    log.warning(
                        "intake of account %s: eMAG does not know order %s (callback or poll); "
                        "ignored",
                        account.name,
                        order_id,
                    )
                    await repository.finish(
                        session,
                        account.id,
                        order_id,
                        state=IntakeState.unknown,
                        outcome="unknown",
                        now=now,
                        unless_returns_due=order_id not in returns_read,
                    )
                    report.unknown += 1
                    report.outcomes[order_id] = "unknown"
                    continue
                report.stored += 1
                outcome = self._decide(account, order.order_type, order.status)
                if outcome == "acknowledge":
                    to_ack.append((order_id, order.id))
                    continue
                await repository.finish(
                    session,
                    account.id,
                    order_id,
                    state=IntakeState.done,
                    outcome=outcome,
                    now=now,
                    # a return callback that came since the returns were looked at: read again
                    unless_returns_due=order_id not in returns_read,
                )
                report.outcomes[order_id] = outcome
            await session.commit()
        return to_ack

    async def _read_returns(
        self, client: EmagClient, account: EmagAccount, claimed: list[int], report: IntakeReport
    ) -> tuple[list[dict[str, Any]], set[int], set[int]] | None:
        """The returns of the claimed orders a return callback named (``RETURNS_DUE``): one
        ``rma/read`` by ``order_id`` each (docs/emag-protocol.md, "Returns", "Callbacks"), the
        orders whose read failed (postponed, their mark kept, so they are tried again) and those
        whose returns were read (finishing the others leaves a mark set meanwhile in place).
        None: eMAG refused this server's IP (the intake is held)."""
        async with self.ctx.db.session() as session:
            due = await repository.returns_due(session, account.id, claimed)
        raws: list[dict[str, Any]] = []
        failed: set[int] = set()
        for order_id in due:
            try:
                raws.extend(await client.read_rows("rma", {"order_id": order_id}))
            except EmagIpNotWhitelistedError as exc:
                await self._refused(account, exc, report)
                return None
            except EmagError as exc:
                failed.add(order_id)
                log.warning(
                    "intake of account %s: reading the returns of order %s failed (%s); "
                    "retried in %s s",
                    account.name,
                    order_id,
                    exc.summary,
                    int(RETRY_SECONDS),
                )
        if failed:
            await self._postpone(account, sorted(failed), "reading its returns from eMAG failed")
            report.postponed += len(failed)
        return raws, failed, set(due) - failed

    @staticmethod
    def _decide(account: EmagAccount, order_type: int, status: int) -> str:
        """What to do with a stored order: acknowledge only a new (status 1), seller-fulfilled
        (type 3) order of an account that asks for it (docs/emag-protocol.md, "Orders")."""
        if order_type == FULFILLED_BY_EMAG:
            return "fbe"
        if status != OrderStatus.NEW:
            return "not-new"
        if not account.auto_acknowledge:
            return "stored"
        return "acknowledge"

    async def _acknowledge(
        self,
        client: EmagClient,
        account: EmagAccount,
        chunk: list[tuple[int, int]],
        slots: asyncio.Semaphore,
        report: IntakeReport,
    ) -> None:
        """Acknowledge ``chunk`` (eMAG id, local id) at once, then record them in one transaction.

        This is :meth:`magflow.orders.actions.OrderActions.acknowledge` for several orders, without
        its re-read (see the module doc): each
        ``order/acknowledge/{id}`` goes through the eMAG client and the audit log (one entry per
        order, refused or not), and the orders eMAG acknowledged are stored as they were read with
        status 2 (:func:`magflow.orders.service.store_orders`) and get ``acknowledged_at``.
        Writing them together, not one transaction per order, is what lets a busy account's
        orders be acknowledged as fast as they arrive on a shared CPU."""
        auditor = Auditor(self.ctx.db, SYSTEM, account_id=account.id, account_name=account.name)

        async def send(emag_id: int) -> str | None:
            if report.held_until is not None:
                return "not sent: eMAG refused this server's IP"
            try:
                await auditor.call(
                    lambda: client.acknowledge_order(emag_id),
                    action="orders.acknowledge",
                    emag_route=f"order/acknowledge/{emag_id}",
                    request=None,
                    judge=_acknowledged,
                    target=f"order:{emag_id}",
                )
            except EmagIpNotWhitelistedError as exc:
                if report.held_until is None:
                    report.held_until = _now() + IP_REFUSAL_PAUSE  # the next sends stop here
                    refusal.append(exc)
                return exc.summary
            except EmagError as exc:
                return exc.summary
            return None

        refusal: list[EmagIpNotWhitelistedError] = []

        async with slots:
            errors = await asyncio.gather(*(send(e) for e, _ in chunk), return_exceptions=True)
            done = [e for (e, _), error in zip(chunk, errors, strict=True) if error is None]
            for (emag_id, _), error in zip(chunk, errors, strict=True):
                if error is None:
                    continue
                if isinstance(error, BaseException):
                    log.error(
                        "intake of account %s: acknowledging order %s failed",
                        account.name,
                        emag_id,
                        exc_info=error,
                    )
                    error = type(error).__name__
                await self._postpone(account, [emag_id], f"acknowledging failed: {error}")
                report.postponed += 1
                log.warning(
                    "intake of account %s: acknowledging order %s failed (%s); retried in %s s",
                    account.name,
                    emag_id,
                    error,
                    int(RETRY_SECONDS),
                )
            if refusal:
                await self._refused(account, refusal[0], report)
            if not done:
                return
            try:
                async with self.ctx.db.session() as session:
                    await self._mark_acknowledged(session, account, done)
                    await session.commit()
            except Exception:
                # eMAG has them in 2: the retry reads them as such and does not acknowledge again
                log.exception("intake of account %s: recording acknowledgements", account.name)
                await self._postpone(account, done, "recording the acknowledgement failed")
                report.postponed += len(done)
                return
        report.acknowledged += len(done)
        report.outcomes.update(dict.fromkeys(done, "acknowledged"))

    async def _mark_acknowledged(
        self, session: Any, account: EmagAccount, emag_ids: list[int]
    ) -> None:
        now = _now()
        stored = await repository.stored_orders(session, account.id, emag_ids)
        raws = [
            {
                **order.raw,
                "id": order.emag_id,
                "status": max(order.status, int(OrderStatus.IN_PROGRESS)),
            }
            for order in stored.values()
        ]
        await store_orders(
            session, account_id=account.id, platform=account.platform, raw_orders=raws, now=now
        )
        await repository.set_acknowledged(session, account.id, emag_ids, now)
        await repository.finish_many(session, account.id, emag_ids, now)

    async def _held(self, account: EmagAccount, report: IntakeReport) -> bool:
        """Whether the account's intake waits for an IP refusal (its own, :meth:`_refused`, or
        its latest sync run's, ``jobs.maintenance.ip_refusal_paused_until``); if so, its pending
        orders are set to wait as long, and nothing is sent to eMAG."""
        from magflow.jobs.maintenance import ip_refusal_paused_until

        now = _now()
        async with self.ctx.db.session() as session:
            held = await lift_hold(session, account.id, now)
            by_sync = await ip_refusal_paused_until(session, account.id, now)
            until = max((t for t in (held, by_sync) if t is not None), default=None)
            if until is None:
                await session.commit()  # a hold lift_hold released
                return False
            # Orders announced since (callbacks) wait too, so that the timer leaves them be.
            await repository.hold(
                session,
                account.id,
                self.worker_id,
                until,
                f"eMAG refused this server's IP (Invalid vendor ip); {IP_WHITELIST_HINT}",
            )
            await session.commit()
        report.held_until = until
        log.warning(
            "intake of account %s waits until %s: eMAG refused this server's IP",
            account.name,
            until.isoformat(),
        )
        return True

    async def _refused(
        self, account: EmagAccount, exc: EmagIpNotWhitelistedError, report: IntakeReport
    ) -> None:
        """eMAG refused this server's IP: hold the account's intake for ``IP_REFUSAL_PAUSE``
        (its pending orders and its poll; the module doc), with eMAG's message and the hint."""
        until = _now() + IP_REFUSAL_PAUSE
        report.held_until = until
        message = "; ".join(exc.messages) or exc.summary
        async with self.ctx.db.session() as session:
            await repository.hold(
                session, account.id, self.worker_id, until, f"{message} ({exc.hint})"
            )
            await session.commit()
        log.error(
            "intake of account %s: %s; %s; nothing more is sent to eMAG until %s",
            account.name,
            message,
            exc.hint,
            until.isoformat(),
        )

    async def _postpone(self, account: EmagAccount, order_ids: list[int], error: str) -> None:
        if not order_ids:
            return
        async with self.ctx.db.session() as session:
            await repository.postpone(
                session,
                account.id,
                order_ids,
                error=error,
                retry_at=_now() + timedelta(seconds=RETRY_SECONDS),
            )
            await session.commit()


async def lift_hold(session: Any, account_id: int, now: datetime) -> datetime | None:
    """Until when the account's intake is held for an IP refusal (``repository.held_until``),
    or None; a hold is lifted (orders due, poll due) when a sync run started since the refusal
    got through (``jobs.maintenance.got_through_since``). The caller commits."""
    from magflow.jobs.maintenance import got_through_since

    held = await repository.held_until(session, account_id, now)
    if held is None:
        return None
    if not await got_through_since(session, account_id, held - IP_REFUSAL_PAUSE):
        return held
    await repository.release_hold(session, account_id, now, now - IP_REFUSAL_PAUSE)
    log.info("intake of account %s resumes: a sync run got through eMAG", account_id)
    return None


async def due_accounts(ctx: AppContext) -> list[int]:
    """Active accounts with pending orders nobody works on (for the maintenance timer)."""
    async with ctx.db.session() as session:
        now = _now()
        stale = now - timedelta(seconds=ctx.settings.sync_stale_seconds)
        return await repository.accounts_with_due_work(session, now, stale)


async def accounts_to_poll(ctx: AppContext) -> list[int]:
    """Active accounts whose catch-up poll is due, each taken by one process only."""
    interval = ctx.settings.intake_poll_seconds
    if interval <= 0:
        return []
    due = []
    async with ctx.db.session() as session:
        accounts = await accounts_service.list_accounts(session, active_only=True)
        for account in accounts:
            now = _now()
            await lift_hold(session, account.id, now)
            # Half a maintenance tick of slack, so that a 60 s poll does not slip to 65 s.
            due_before = now - timedelta(seconds=max(interval - 2.5, 0))
            if await repository.take_poll_turn(session, account.id, now, due_before):
                due.append(account.id)
        await session.commit()
    return due


async def refresh_offer(ctx: AppContext, account_id: int, offer: int | str) -> str:
    """Re-read one offer a ``documentation`` callback named (its documentation was approved: a
    part number key assigned, its validation status changed; docs/emag-protocol.md, "Callbacks")
    with one ``product_offer/read`` by ``id`` (``offer`` an int) or by ``part_number_key`` (a
    str, when the callback names only that), and store it as the offers sync does: the history
    of what changed (``pricing.history.record_changes``), then the catalog's one upsert
    (``catalog.repository.upsert_offers`` of a ``catalog.mapping.offer_row``). The VAT rates come
    from ``vat/read`` (the row's price with VAT needs them). The stored ``last_seen_run_id`` is
    kept: this read is not a sync run, and the next complete run still decides what is missing.

    Returns what happened ("stored", "unknown" (eMAG does not know the offer), "held" (eMAG
    refuses this server's IP), "disabled", "failed"); never raises: a lost re-read is made good
    by the next offers sync."""
    from magflow.catalog import repository as catalog_repository
    from magflow.catalog.mapping import offer_row
    from magflow.emag.platforms import platform_info
    from magflow.pricing import history as offer_history

    try:
        async with ctx.db.session() as session:
            account = await accounts_service.get_account(session, account_id)
            credentials = accounts_service.credentials(ctx.cipher, account)
        if not account.is_active:
            log.warning(
                "documentation callback for offer %s of disabled account %s: not read",
                offer,
                account.name,
            )
            return "disabled"
        async with ctx.emag_client(credentials) as client:
            if isinstance(offer, int):
                rows = await client.read_rows("product_offer", {"id": offer})
                raw = next((r for r in rows if to_int(r.get("id")) == offer), None)
            else:
                rows = await client.read_rows("product_offer", {"part_number_key": offer})
                raw = next((r for r in rows if r.get("part_number_key") == offer), None)
            if raw is None:
                log.warning(
                    "documentation callback of account %s: eMAG does not know offer %s; ignored",
                    account.name,
                    offer,
                )
                return "unknown"
            vat_rates = await client.vat_rates()
        offer_id = to_int(raw.get("id"))
        if offer_id is None:
            log.warning("documentation callback of account %s: no offer id read", account.name)
            return "unknown"
        async with ctx.db.session() as session:
            now = _now()
            stored = await catalog_repository.offers_by_emag_id(session, account.id, [offer_id])
            known = stored.get(offer_id)
            row = offer_row(
                raw,
                account_id=account.id,
                run_id=known.last_seen_run_id if known is not None else None,  # type: ignore[arg-type]
                now=now,
                currency=platform_info(account.platform).currency,
                vat_rates=vat_rates,
            )
            row["created_at"] = now
            await offer_history.record_changes(session, account.id, [row], now)
            await catalog_repository.upsert_offers(session, account.id, [row])
            await session.commit()
        log.info(
            "documentation callback of account %s: offer %s re-read (validation status %s)",
            account.name,
            offer_id,
            row["validation_status"],
        )
        return "stored"
    except EmagIpNotWhitelistedError as exc:
        log.error("documentation callback, offer %s: %s; %s", offer, exc.summary, exc.hint)
        return "held"
    except EmagError as exc:
        log.warning(
            "documentation callback, offer %s: reading it from eMAG failed (%s); the next "
            "offers sync reads it",
            offer,
            exc.summary,
        )
        return "failed"
    except Exception:
        log.exception("documentation callback, offer %s: re-reading it failed", offer)
        return "failed"
