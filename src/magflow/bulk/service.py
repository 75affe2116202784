"""Bulk offer updates through the light offer API (EMAG_API.md §5.3).

Life of an operation:

1. :func:`create_operation` validates every item locally (:mod:`.validation`; the offer must exist
   locally for that account) and stores the operation with one row per item: ``invalid`` items
   carry the reasons and are never sent, the others are ``pending`` with the exact ``offer/save``
   payload (the account's stock buffer already applied: max(0, stock - buffer)).
2. The route hands the operation to the job system (``ctx.jobs.enqueue_bulk``): the in-process
   runner's task, or a ``magflow worker`` with ``MAGFLOW_JOBS=procrastinate``, where sync runs
   execute too. :meth:`BulkRunner.execute` claims it in the database (``worker_id`` and
   ``heartbeat_at`` of the operation, one atomic UPDATE, as for sync runs) and sends the pending
   items in chunks of at most 50 (§3), one account after the other chunk by chunk (accounts in
   parallel; the client's limiter keeps each account at 3 req/s). Before each call, in its own
   short transaction, the chunk's items become ``sending`` (and the claim is renewed); after it,
   in another: every item of the chunk gets eMAG's own answer (``succeeded`` / ``failed`` with
   eMAG's messages), accepted items update the local offer, and the operation's counters are
   recomputed from the items. The chunk's request is in the audit log.
3. Failures never leave an item unaccounted for: a request that fails after the client's retries
   (5xx, timeouts, 429s) fails its chunk's items with the error; an auth refusal fails the rest of
   that account's items without sending them; an unexpected error fails every item still pending
   ("not sent") and the operation. A failed item can be re-sent alone (:func:`prepare_retry`).
4. A process that stops mid-operation does not fail it. Shut down cleanly, it gives its claim
   back; killed, its heartbeat goes stale. Either way the job maintenance of the next process
   (:mod:`magflow.jobs.maintenance`) dispatches the operation again and it resumes: items already
   answered are not touched, ``pending`` ones are sent, and ``sending`` ones (sent, answer never
   recorded) are first read back from eMAG and sent again only if eMAG does not show their change
   (:meth:`BulkRunner._confirm` explains why a second send could not change the outcome anyway).
5. Progress is published through a :data:`BulkPublisher` (``bulk.started``, ``bulk.progress``
   after every chunk, then ``bulk.completed`` or ``bulk.failed``); :func:`bus_publisher` puts
   them on the event bus, whichever process runs the operation.

Idempotency: an ``Idempotency-Key`` is stored with the operation (unique); the same key with the
same request returns that operation without sending anything again; with a different request it
is refused (:class:`IdempotencyConflictError`).

About light offer/save answers: items the answer does not mention are taken as accepted (the
client's reading of the UNCERTAIN empty ``results``, :class:`magflow.emag.results.OfferSaveResult`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.audit.service import Actor, Auditor, Outcome
from magflow.bulk import repository
from magflow.bulk.models import BulkOperation, BulkOperationItem, ItemStatus, OperationStatus
from magflow.bulk.validation import (
    FIELDS,
    CurrentPrices,
    blank,
    jsonable,
    offer_payload,
    published_stock,
    validate_changes,
    whole_number,
)
from magflow.catalog import repository as catalog_repository
from magflow.catalog.models import EmagOffer
from magflow.common.errors import NotFoundError
from magflow.context import AppContext
from magflow.emag.client import EmagClient
from magflow.emag.coerce import to_decimal, to_int, to_list
from magflow.emag.errors import EmagAuthError, EmagError
from magflow.emag.results import OfferSaveResult
from magflow.jobs.base import WORKER_ID
from magflow.realtime.events import is_terminal, make_event

log = logging.getLogger("magflow.bulk")

BulkPublisher = Callable[[str, dict[str, Any]], Awaitable[None]]
MAX_ITEMS = 10_000
CHUNK_SIZE = 50  # §3: at most 50 entities per save
ACTIVE = {OperationStatus.queued.value, OperationStatus.running.value}


async def no_publish(event_type: str, data: dict[str, Any]) -> None:
    """The default publisher: nothing."""


class IdempotencyConflictError(Exception):
    """The Idempotency-Key was used before with a different request."""


class OperationNotFoundError(NotFoundError):
    pass


class OfferNotFoundError(NotFoundError):
    pass


class OperationBusyError(Exception):
    """The operation is still running."""


def request_hash(items: Sequence[dict[str, Any]], extra: Any = None) -> str:
    body = json.dumps([items, extra], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def operation_view(op: BulkOperation) -> dict[str, Any]:
    return {
        "id": op.id,
        "kind": op.kind,
        "status": op.status,
        "source": op.source,
        "idempotency_key": op.idempotency_key,
        "created_by": op.created_by_email,
        "total_items": op.total_items,
        "invalid_items": op.invalid_items,
        "pending_items": op.pending_items,
        "succeeded_items": op.succeeded_items,
        "failed_items": op.failed_items,
        "processed_items": op.invalid_items + op.succeeded_items + op.failed_items,
        "requests_sent": op.requests_sent,
        "attempts": op.attempts,
        "error": op.error,
        "created_at": op.created_at,
        "started_at": op.started_at,
        "finished_at": op.finished_at,
    }


def _event_view(op: BulkOperation) -> dict[str, Any]:
    view = operation_view(op)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in view.items()}


def _apply_counts(op: BulkOperation, counts: dict[str, int]) -> None:
    op.invalid_items = counts.get(ItemStatus.invalid.value, 0)
    # Items whose answer is not recorded yet are still to be settled: they count as pending.
    op.pending_items = counts.get(ItemStatus.pending.value, 0) + counts.get(
        ItemStatus.sending.value, 0
    )
    op.succeeded_items = counts.get(ItemStatus.succeeded.value, 0)
    op.failed_items = counts.get(ItemStatus.failed.value, 0)
    op.total_items = sum(counts.values())


# --- creation ------------------------------------------------------------------------------------


async def create_operation(
    session: AsyncSession,
    items: Sequence[dict[str, Any]],
    *,
    actor: Actor,
    default_account: str | None = None,
    idempotency_key: str | None = None,
    source: str = "json",
    fingerprint: str | None = None,
) -> tuple[BulkOperation, bool]:
    """Validate and store an operation; returns it and whether it is new (False: the earlier
    operation of the same Idempotency-Key). Flushes, never commits."""
    fingerprint = fingerprint or request_hash(list(items), default_account)
    if idempotency_key:
        existing = await repository.get_by_idempotency_key(session, idempotency_key)
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise IdempotencyConflictError(
                    "this Idempotency-Key was used for a different request"
                )
            return existing, False
    if len(items) > MAX_ITEMS:
        raise ValueError(f"at most {MAX_ITEMS} items per operation, got {len(items)}")

    accounts: dict[str, EmagAccount | None] = {}
    resolved: list[tuple[dict[str, Any], EmagAccount | None, int | None, list[str]]] = []
    for item in items:
        errors: list[str] = []
        ref = item.get("account")
        ref = default_account if blank(ref) else str(ref).strip()
        account = None
        if ref is None:
            errors.append("account is missing (give it per item or for the whole request)")
        else:
            if ref not in accounts:
                try:
                    accounts[ref] = await accounts_service.get_account(session, ref)
                except accounts_service.AccountNotFoundError:
                    accounts[ref] = None
            account = accounts[ref]
            if account is None:
                errors.append(f"no eMAG account named or numbered {ref!r}")
        raw_id = item.get("offer_id")
        emag_id = None
        if blank(raw_id):
            errors.append("offer_id is missing")
        else:
            emag_id = whole_number("offer_id", raw_id, 1, 2**53, errors)
        resolved.append((item, account, emag_id, errors))

    wanted: dict[int, set[int]] = defaultdict(set)
    for _item, account, emag_id, _errors in resolved:
        if account is not None and emag_id is not None:
            wanted[account.id].add(emag_id)
    offers: dict[int, dict[int, EmagOffer]] = {
        account_id: await catalog_repository.offers_by_emag_id(session, account_id, ids)
        for account_id, ids in wanted.items()
    }

    op = BulkOperation(
        kind="offers",
        status=OperationStatus.queued.value,
        source=source,
        idempotency_key=idempotency_key or None,
        request_hash=fingerprint,
        created_by_id=actor.user_id,
        created_by_email=actor.email,
        requested_by_id=actor.user_id,
        requested_by_email=actor.email,
    )
    repository.add_operation(session, op)
    await session.flush()

    now = datetime.now(UTC)
    seen: dict[tuple[int, int], int] = {}
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = defaultdict(int)
    for position, (item, account, emag_id, errors) in enumerate(resolved):
        offer = None
        if account is not None and emag_id is not None:
            offer = offers[account.id].get(emag_id)
            if offer is None:
                errors.append(f"offer {emag_id} does not exist locally for account {account.name}")
            elif (account.id, emag_id) in seen:
                errors.append(
                    f"offer {emag_id} of account {account.name} is already changed by item "
                    f"{seen[account.id, emag_id]}"
                )
            else:
                seen[account.id, emag_id] = position
        current = (
            CurrentPrices(
                offer.sale_price,
                offer.min_sale_price,
                offer.max_sale_price,
                offer.recommended_price,
            )
            if offer is not None
            else None
        )
        changes, problems = validate_changes(item, current)
        errors.extend(problems)
        status = ItemStatus.invalid if errors else ItemStatus.pending
        counts[status.value] += 1
        rows.append(
            {
                "operation_id": op.id,
                "position": position,
                "account_id": account.id if account is not None else None,
                "account_ref": str(item.get("account") or default_account or "")[:64] or None,
                "offer_emag_id": emag_id,
                "offer_id": offer.id if offer is not None else None,
                "changes": jsonable(changes)
                if not errors
                else {k: item.get(k) for k in FIELDS if not blank(item.get(k))},
                "payload": (
                    offer_payload(emag_id, changes, account.stock_buffer)
                    if not errors and account is not None and emag_id is not None
                    else None
                ),
                "status": status.value,
                "messages": errors,
                "attempts": 0,
                "updated_at": now,
            }
        )
    await repository.insert_items(session, rows)
    _apply_counts(op, counts)
    await session.flush()
    return op, True


async def prepare_retry(
    session: AsyncSession, operation_id: int, *, actor: Actor, stale_seconds: float
) -> BulkOperation:
    """Queue the operation again with its failed items back to pending (items left ``sending`` or
    ``pending`` by a crash are taken along). Refused (:class:`OperationBusyError`) while a live
    process holds the operation, in this process or another: only an operation that finished, or
    whose holder's heartbeat is older than ``stale_seconds``, is queued again. Flushes."""
    op = await repository.get_operation(session, operation_id)
    if op is None:
        raise OperationNotFoundError(f"no bulk operation {operation_id}")
    stale_before = datetime.now(UTC) - timedelta(seconds=stale_seconds)
    requeued = await repository.requeue(
        session,
        operation_id,
        stale_before,
        requested_by_id=actor.user_id,
        requested_by_email=actor.email,
    )
    if not requeued:
        raise OperationBusyError(f"bulk operation {operation_id} is still {op.status}")
    moved = await repository.set_item_status(
        session, operation_id, ItemStatus.failed.value, ItemStatus.pending.value
    )
    counts = await repository.count_by_status(session, operation_id)
    left = counts.get(ItemStatus.pending.value, 0) + counts.get(ItemStatus.sending.value, 0)
    if not moved and not left:
        raise OperationBusyError(f"bulk operation {operation_id} has no failed item to retry")
    await session.refresh(op)
    _apply_counts(op, counts)
    await session.flush()
    return op


# --- running -------------------------------------------------------------------------------------


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


PRICE_NAMES = ("sale_price", "min_sale_price", "max_sale_price", "recommended_price")
CENTS = Decimal("0.0001")


def _warehouses(values: Any) -> dict[int, int]:
    """``{warehouse_id: value}`` of a ``[{warehouse_id, value}]`` list, read as eMAG sends it."""
    found: dict[int, int] = {}
    for entry in to_list(values):
        if not isinstance(entry, dict):
            continue
        warehouse, value = to_int(entry.get("warehouse_id")), to_int(entry.get("value"))
        if warehouse is not None and value is not None:
            found[warehouse] = value
    return found


def _landed(payload: dict[str, Any], offer: dict[str, Any]) -> bool:
    """Whether eMAG's offer already shows every value ``payload`` sets.

    What a read does not show counts as "not landed" (the item is sent again): ``stock[]`` and
    ``min_sale_price``/``max_sale_price`` are not documented read fields (docs/emag-protocol.md,
    "Offers"), so stock falls back to ``general_stock`` (the sum over warehouses) and a missing
    price never confirms anything."""
    for name in PRICE_NAMES:
        if name in payload:
            current = to_decimal(offer.get(name))
            if current is None or current.quantize(CENTS) != Decimal(str(payload[name])).quantize(
                CENTS
            ):
                return False
    if "stock" in payload:
        wanted = _warehouses(payload["stock"])
        shown = _warehouses(offer.get("stock"))
        general_stock = to_int(offer.get("general_stock"))
        if shown:
            if any(shown.get(w) != v for w, v in wanted.items()):
                return False
        elif general_stock is None or general_stock != sum(wanted.values()):
            return False
    if "handling_time" in payload:
        wanted = _warehouses(payload["handling_time"])
        shown = _warehouses(offer.get("handling_time"))
        if any(shown.get(w) != v for w, v in wanted.items()):
            return False
    for name in ("status", "vat_id"):
        if name in payload and to_int(offer.get(name)) != int(payload[name]):
            return False
    return True


def _judge(result: OfferSaveResult) -> Outcome:
    failed = result.failed
    return Outcome(
        status_code=200,
        success=not failed,
        messages=[f"{offer_id}: {m}" for offer_id, msgs in failed.items() for m in msgs],
        response=result.raw[0] if len(result.raw) == 1 else result.raw,
    )


def _offer_values(offer: EmagOffer, item: _Item, now: datetime) -> dict[str, Any]:
    """The local offer after eMAG accepted ``item`` (stock as published, buffer applied)."""
    values: dict[str, Any] = {"updated_at": now}
    changes = item.changes
    for name in ("sale_price", "min_sale_price", "max_sale_price", "recommended_price"):
        if name in changes:
            values[name] = Decimal(str(changes[name]))
    if "vat_id" in changes and changes["vat_id"] != offer.vat_id:
        values["vat_id"] = changes["vat_id"]
        values["vat_rate"] = None  # unknown until the next offers sync
    sale = values.get("sale_price", offer.sale_price)
    rate = values.get("vat_rate", offer.vat_rate) if "vat_rate" in values else offer.vat_rate
    if "sale_price" in values or "vat_rate" in values:
        values["sale_price_with_vat"] = (
            (sale * (1 + rate)).quantize(Decimal("0.0001"))
            if sale is not None and rate is not None
            else None
        )
    if "stock" in item.payload:
        published = int(item.payload["stock"][0]["value"])
        values["stock"] = [{"warehouse_id": 1, "value": published}]
        values["stock_total"] = published
        values["general_stock"] = published
    for name in ("handling_time", "status"):
        if name in changes:
            values[name] = int(changes[name])
    return values


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
            started = _event_view(op)
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
                            judge=_judge,
                        )
                    except EmagError as exc:
                        messages = [str(exc)]
                        if isinstance(exc, EmagAuthError):
                            fatal = messages
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
        for item in items:
            try:
                rows = await client.read_rows("product_offer", {"id": item.emag_id}, 1, 10)
            except EmagError as exc:
                log.warning("could not read offer %s back from eMAG: %s", item.emag_id, exc)
                resend.append(item)
                continue
            offer = next((o for o in rows if to_int(o.get("id")) == item.emag_id), None)
            if offer is not None and _landed(item.payload, offer):
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
            for item in chunk:
                outcome = outcomes[item.id]
                await repository.update_item(
                    session,
                    item.id,
                    status=outcome.status.value,
                    messages=outcome.messages,
                    attempts=item.attempts + (1 if sent or outcome.attempted else 0),
                )
                if outcome.status is ItemStatus.succeeded and item.offer_id is not None:
                    offer = await catalog_repository.get_offer(session, item.offer_id)
                    if offer is not None:
                        await catalog_repository.apply_offer_update(
                            session, offer.id, _offer_values(offer, item, now)
                        )
            op = await repository.get_operation(session, operation_id)
            assert op is not None
            _apply_counts(op, await repository.count_by_status(session, operation_id))
            if sent:
                op.requests_sent += 1
            op.heartbeat_at = now
            await session.commit()
            view = _event_view(op)
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
            _apply_counts(op, await repository.count_by_status(session, operation_id))
            clean = op.failed_items == 0 and op.invalid_items == 0
            op.status = (
                OperationStatus.completed.value
                if clean
                else OperationStatus.completed_with_errors.value
            )
            op.finished_at = datetime.now(UTC)
            await session.commit()
            view = _event_view(op)
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
                _apply_counts(op, await repository.count_by_status(session, operation_id))
                op.status = OperationStatus.failed.value
                op.error = reason
                op.finished_at = datetime.now(UTC)
                await session.commit()
                view = _event_view(op)
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


def bus_publisher(ctx: AppContext) -> BulkPublisher:
    """Bulk operations publish on the event bus like syncs (from the API process or a worker);
    their end invalidates cached views."""

    async def publish(event_type: str, data: dict[str, Any]) -> None:
        await ctx.bus.publish(make_event(event_type, account_id=data.get("account_id"), data=data))
        if is_terminal(event_type):
            await ctx.cache.clear()

    return publish


async def set_stock_buffer(
    session: AsyncSession, account_ref: str | int, buffer: int
) -> EmagAccount:
    """Set the account's stock buffer (units held back from eMAG). Flushes."""
    account = await accounts_service.get_account(session, account_ref)
    account.stock_buffer = max(0, int(buffer))
    await session.flush()
    return account


@dataclass
class StockUpdate:
    offer: EmagOffer
    requested: int
    published: int


async def update_stock(
    ctx: AppContext, session: AsyncSession, actor: Actor, offer_id: int, stock: int
) -> StockUpdate:
    """``PATCH offer_stock/{id}`` (§5.4) for one local offer, buffer applied; the local offer
    takes the published stock once eMAG accepted it (204). Flushes, never commits."""
    offer = await catalog_repository.get_offer(session, offer_id)
    if offer is None:
        raise OfferNotFoundError(f"no offer {offer_id}")
    account = await accounts_service.get_account(session, offer.account_id)
    published = published_stock(stock, account.stock_buffer)
    auditor = Auditor(ctx.db, actor, account_id=account.id, account_name=account.name)
    async with ctx.emag_client(accounts_service.credentials(ctx.cipher, account)) as client:
        await auditor.call(
            functools.partial(client.update_stock, offer.emag_id, published),
            action="offers.stock",
            emag_route=f"offer_stock/{offer.emag_id}",
            http_method="PATCH",
            request={"stock": published},
            judge=lambda _r: Outcome(status_code=204, success=True, messages=[]),
            target=f"offer:{offer.emag_id}",
        )
    now = datetime.now(UTC)
    await catalog_repository.apply_offer_update(
        session,
        offer.id,
        {
            "stock": [{"warehouse_id": 1, "value": published}],
            "stock_total": published,
            "general_stock": published,
            "updated_at": now,
        },
    )
    await session.refresh(offer)
    return StockUpdate(offer=offer, requested=stock, published=published)


__all__ = [
    "BulkOperationItem",
    "BulkPublisher",
    "BulkRunner",
    "ClaimLostError",
    "IdempotencyConflictError",
    "OfferNotFoundError",
    "OperationBusyError",
    "OperationNotFoundError",
    "bus_publisher",
    "create_operation",
    "no_publish",
    "operation_view",
    "prepare_retry",
    "set_stock_buffer",
    "update_stock",
]
