"""Sending bulk operations: :class:`BulkRunner` claims an operation, sends its pending items
in chunks, records eMAG's answers and resumes what a stopped process left (the life of an
operation is in :mod:`magflow.bulk.service`).

About light offer/save answers: items the answer does not mention are taken as accepted (the
client's reading of the UNCERTAIN empty ``results``, :class:`magflow.emag.results.OfferSaveResult`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from magflow.accounts import service as accounts_service
from magflow.audit.service import Actor, Auditor
from magflow.bulk import repository
from magflow.bulk.events import BulkPublisher, event_view, no_publish
from magflow.bulk.models import ItemStatus, OperationStatus
from magflow.bulk.offer_changes import has_landed, judge, offer_values
from magflow.bulk.service import OperationNotFoundError, apply_counts
from magflow.catalog import repository as catalog_repository
from magflow.context import AppContext
from magflow.emag.client import EmagClient
from magflow.emag.coerce import to_int
from magflow.emag.errors import EmagAuthError, EmagError
from magflow.jobs.base import WORKER_ID

log = logging.getLogger("magflow.bulk")

CHUNK_SIZE = 50  # docs/emag-protocol.md, "Rate and size limits": at most 50 entities per save
ACTIVE = {OperationStatus.queued.value, OperationStatus.running.value}


@dataclass(frozen=True)
class _Item:
    id: int
    offer_id: int | None
    emag_id: int
    payload: dict[str, Any]
    changes: dict[str, Any]
    attempts: int


@dataclass
class _Outcome:
    status: ItemStatus
    messages: list[str] = field(default_factory=list)
    attempted: bool = False  # sent by an earlier process whose answer was lost


@dataclass
class _Work:
    """One account's part of a run: items to send, and items whose earlier send is unconfirmed."""

    pending: list[_Item] = field(default_factory=list)
    unconfirmed: list[_Item] = field(default_factory=list)


class ClaimLostError(Exception):
    """Another process took the operation over (this one stalled past the stale limit)."""


class BulkRunner:
    """Executes (or resumes) bulk operations; one instance per process, no state of its own
    beyond its settings: what an operation has done is in the database only.

    :meth:`execute` is what the job backends call (the in-process runner's task, or the
    procrastinate job of ``magflow worker``). It claims the operation, then sends what is left.
    """

    def __init__(
        self, ctx: AppContext, publish: BulkPublisher = no_publish, *, worker_id: str = WORKER_ID
    ) -> None:
        self.ctx = ctx
        self.publish = publish
        self.worker_id = worker_id

    def _stale_before(self) -> datetime:
        return datetime.now(UTC) - timedelta(seconds=self.ctx.settings.sync_stale_seconds)

    async def _safe_publish(self, event_type: str, data: dict[str, Any]) -> None:
        try:
            await self.publish(event_type, data)
        except Exception:
            log.exception("bulk publisher failed for %s", event_type)

    async def execute(self, operation_id: int) -> str:
        """Claim ``operation_id`` for this process and run it to a final status (returned), or
        ``claimed-elsewhere`` when a live process holds it.

        Cancelled (the process shuts down): the items keep their statuses and the claim is given
        back, so the next process to start resumes the operation where it stopped."""
        async with self.ctx.db.session() as session:
            claimed = await repository.claim(
                session, operation_id, self.worker_id, self._stale_before()
            )
            await session.commit()
        if not claimed:
            return "claimed-elsewhere"
        heartbeat = asyncio.create_task(
            self._heartbeat(operation_id), name=f"bulk-{operation_id}-heartbeat"
        )
        try:
            return await self._run(operation_id)
        except ClaimLostError:
            log.warning("bulk operation %s was taken over by another process", operation_id)
            return "claimed-elsewhere"
        except asyncio.CancelledError:
            await self._release(operation_id)
            raise
        except Exception as exc:
            log.exception("bulk operation %s failed", operation_id)
            return await self._abort(operation_id, exc)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _run(self, operation_id: int) -> str:
        async with self.ctx.db.session() as session:
            op = await repository.get_operation(session, operation_id)
            if op is None:
                raise OperationNotFoundError(f"no bulk operation {operation_id}")
            if op.status not in ACTIVE:
                return op.status
            if op.status == OperationStatus.queued.value:
                op.attempts += 1  # a new run; a resumed one keeps its count
            op.status = OperationStatus.running.value
            op.started_at = op.started_at or datetime.now(UTC)
            op.error = None
            op.finished_at = None
            actor = Actor(op.requested_by_id, op.requested_by_email)
            rows = await repository.items_in(
                session, operation_id, [ItemStatus.sending.value, ItemStatus.pending.value]
            )
            work: dict[int, _Work] = defaultdict(_Work)
            for row in rows:
                if row.account_id is None or row.payload is None or row.offer_emag_id is None:
                    continue
                item = _Item(
                    id=row.id,
                    offer_id=row.offer_id,
                    emag_id=row.offer_emag_id,
                    payload=row.payload,
                    changes=row.changes,
                    attempts=row.attempts,
                )
                if row.status == ItemStatus.sending.value:
                    work[row.account_id].unconfirmed.append(item)
                else:
                    work[row.account_id].pending.append(item)
            await session.commit()
            started = event_view(op)
        await self._safe_publish("bulk.started", started)
        async with asyncio.TaskGroup() as group:
            for account_id, account_work in work.items():
                group.create_task(self._run_account(operation_id, account_id, account_work, actor))
        return await self._finish(operation_id)

    async def _run_account(
        self, operation_id: int, account_id: int, work: _Work, actor: Actor
    ) -> None:
        async with self.ctx.db.session() as session:
            account = await accounts_service.get_account(session, account_id)
            creds = accounts_service.credentials(self.ctx.cipher, account)
        auditor = Auditor(
            self.ctx.db,
            actor,
            account_id=account.id,
            account_name=account.name,
            bulk_operation_id=operation_id,
        )
        fatal: list[str] | None = None
        async with self.ctx.emag_client(creds) as client:
            items = work.pending
            if work.unconfirmed:
                resend = await self._confirm(operation_id, client, work.unconfirmed)
                items = sorted([*resend, *work.pending], key=lambda i: i.id)
            for start in range(0, len(items), CHUNK_SIZE):
                chunk = items[start : start + CHUNK_SIZE]
                sent = False
                outcomes: dict[int, _Outcome]
                if fatal is not None:
                    outcomes = {
                        i.id: _Outcome(ItemStatus.failed, ["not sent: " + "; ".join(fatal)])
                        for i in chunk
                    }
                else:
                    await self._mark_sending(operation_id, chunk)
                    payloads = [i.payload for i in chunk]
                    sent = True
                    try:
                        result = await auditor.call(
                            functools.partial(client.save_offers, payloads),
                            action="bulk.offers",
                            emag_route="offer/save",
                            request={"data": payloads},
                            judge=judge,
                        )
                    except EmagError as exc:
                        messages = [str(exc)]
                        if exc.hint is not None:  # e.g. whitelist the IP (IP refusal)
                            messages.append(exc.hint)
                        if isinstance(exc, EmagAuthError):
                            fatal = messages  # the account's other chunks are not sent
                        outcomes = {i.id: _Outcome(ItemStatus.failed, messages) for i in chunk}
                    else:
                        outcomes = {}
                        for i in chunk:
                            answer = result.items.get(str(i.emag_id))
                            if answer is None:
                                outcomes[i.id] = _Outcome(
                                    ItemStatus.succeeded, ["accepted (not reported by eMAG)"]
                                )
                            elif answer.is_error:
                                outcomes[i.id] = _Outcome(
                                    ItemStatus.failed, answer.messages or ["refused by eMAG"]
                                )
                            else:
                                outcomes[i.id] = _Outcome(ItemStatus.succeeded, answer.messages)
                await self._record_chunk(operation_id, chunk, outcomes, sent)

    async def _confirm(
        self, operation_id: int, client: EmagClient, items: list[_Item]
    ) -> list[_Item]:
        """Items left ``sending`` by a process that stopped mid-call: did their change land?

        Each offer is read back from eMAG (``product_offer/read`` by id, docs/emag-protocol.md,
        "Offers"). An offer that already shows every value of the item's payload is recorded as
        succeeded without sending anything; the others (and any whose read fails) are returned to
        be sent again.

        Why sending such an item again cannot change the outcome: a light ``offer/save`` item sets
        absolute values (prices, stock, handling time, status, VAT id), never increments, and the
        payload is stored with the item, so a second save writes the same values a first one did.
        The only cost of a duplicate is one more request; reading first avoids even that whenever
        eMAG already has the change.
        """
        resend: list[_Item] = []
        landed: dict[int, _Outcome] = {}
        for position, item in enumerate(items):
            try:
                rows = await client.read_rows("product_offer", {"id": item.emag_id}, 1, 10)
            except EmagAuthError as exc:
                # Credentials or the IP refused (docs/emag-protocol.md, "Answers and errors"):
                # every other read would fail alike. The first save fails the same way and marks
                # everything "not sent" with eMAG's message.
                log.warning("could not read offers back from eMAG: %s", exc)
                resend.extend(items[position:])
                break
            except EmagError as exc:
                log.warning("could not read offer %s back from eMAG: %s", item.emag_id, exc)
                resend.append(item)
                continue
            offer = next((o for o in rows if to_int(o.get("id")) == item.emag_id), None)
            if offer is not None and has_landed(item.payload, offer):
                landed[item.id] = _Outcome(
                    ItemStatus.succeeded,
                    ["accepted (confirmed by reading eMAG after the answer was lost)"],
                    attempted=True,
                )
            else:
                resend.append(item)
        if landed:
            await self._record_chunk(
                operation_id, [i for i in items if i.id in landed], landed, sent=False
            )
        if resend:
            async with self.ctx.db.session() as session:
                await repository.mark_items(
                    session, [i.id for i in resend], ItemStatus.pending.value
                )
                await session.commit()
        return resend

    async def _mark_sending(self, operation_id: int, chunk: list[_Item]) -> None:
        """Committed before the call: a process that dies from here on leaves the chunk
        ``sending``, which makes whoever resumes check eMAG before sending it again. Renews the
        claim in the same transaction and stops if another process holds it now."""
        async with self.ctx.db.session() as session:
            if not await repository.beat(session, operation_id, self.worker_id):
                raise ClaimLostError(operation_id)
            await repository.mark_items(session, [i.id for i in chunk], ItemStatus.sending.value)
            await session.commit()

    async def _record_chunk(
        self,
        operation_id: int,
        chunk: list[_Item],
        outcomes: dict[int, _Outcome],
        sent: bool,
    ) -> None:
        now = datetime.now(UTC)
        async with self.ctx.db.session() as session:
            # The chunk's accepted offers in one read (not one per item: this runs between two
            # sends, so its time counts against the rate a long operation reaches).
            offers = await catalog_repository.offers_by_id(
                session,
                [
                    i.offer_id
                    for i in chunk
                    if outcomes[i.id].status is ItemStatus.succeeded and i.offer_id is not None
                ],
            )
            await repository.update_items(
                session,
                [
                    {
                        "item_id": item.id,
                        "status": outcomes[item.id].status.value,
                        "messages": outcomes[item.id].messages,
                        "attempts": item.attempts
                        + (1 if sent or outcomes[item.id].attempted else 0),
                    }
                    for item in chunk
                ],
            )
            updates = []
            for item in chunk:
                outcome = outcomes[item.id]
                if outcome.status is ItemStatus.succeeded and item.offer_id is not None:
                    offer = offers.get(item.offer_id)
                    if offer is not None:
                        updates.append(
                            (offer.id, offer_values(offer, item.changes, item.payload, now))
                        )
            await catalog_repository.apply_offer_updates(session, updates)
            op = await repository.get_operation(session, operation_id)
            assert op is not None
            apply_counts(op, await repository.count_by_status(session, operation_id))
            if sent:
                op.requests_sent += 1
            op.heartbeat_at = now
            await session.commit()
            view = event_view(op)
        await self._safe_publish("bulk.progress", view)

    async def _finish(self, operation_id: int) -> str:
        async with self.ctx.db.session() as session:
            op = await repository.get_operation(session, operation_id)
            assert op is not None
            # Nothing may stay pending once every account ran: account for any leftover.
            await repository.set_item_status(
                session,
                operation_id,
                ItemStatus.pending.value,
                ItemStatus.failed.value,
                ["not sent: internal error"],
            )
            await repository.set_item_status(
                session,
                operation_id,
                ItemStatus.sending.value,
                ItemStatus.failed.value,
                ["sent, but its answer was lost: internal error"],
            )
            apply_counts(op, await repository.count_by_status(session, operation_id))
            clean = op.failed_items == 0 and op.invalid_items == 0
            op.status = (
                OperationStatus.completed.value
                if clean
                else OperationStatus.completed_with_errors.value
            )
            op.finished_at = datetime.now(UTC)
            await session.commit()
            view = event_view(op)
        await self._safe_publish("bulk.completed", view)
        return str(view["status"])

    async def _abort(self, operation_id: int, exc: BaseException) -> str:
        """An unexpected error: the operation fails; items not sent fail "not sent", items whose
        answer was lost fail with that (a retry sends them again, which is harmless: see
        :meth:`_confirm`)."""
        reason = repr(exc)[:500]
        try:
            async with self.ctx.db.session() as session:
                op = await repository.get_operation(session, operation_id)
                if op is None:
                    return "missing"
                await repository.set_item_status(
                    session,
                    operation_id,
                    ItemStatus.pending.value,
                    ItemStatus.failed.value,
                    [f"not sent: {reason}"],
                )
                await repository.set_item_status(
                    session,
                    operation_id,
                    ItemStatus.sending.value,
                    ItemStatus.failed.value,
                    [f"sent, but its answer was lost: {reason}"],
                )
                apply_counts(op, await repository.count_by_status(session, operation_id))
                op.status = OperationStatus.failed.value
                op.error = reason
                op.finished_at = datetime.now(UTC)
                await session.commit()
                view = event_view(op)
            await self._safe_publish("bulk.failed", view)
            return OperationStatus.failed.value
        except Exception:
            log.exception("could not record the failure of bulk operation %s", operation_id)
            return OperationStatus.failed.value

    async def _release(self, operation_id: int) -> None:
        try:
            async with self.ctx.db.session() as session:
                await repository.release(session, operation_id, self.worker_id)
                await session.commit()
        except Exception:
            log.exception("could not release bulk operation %s", operation_id)

    async def _heartbeat(self, operation_id: int) -> None:
        while True:
            await asyncio.sleep(self.ctx.settings.sync_heartbeat_seconds)
            try:
                async with self.ctx.db.session() as session:
                    await repository.beat(session, operation_id, self.worker_id)
                    await session.commit()
            except Exception:  # a missed beat is not fatal; the next chunk beats too
                log.debug("heartbeat for bulk operation %s failed", operation_id, exc_info=True)


__all__ = ["BulkRunner", "ClaimLostError"]
