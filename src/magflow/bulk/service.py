"""Bulk offer updates through the light offer API (docs/emag-protocol.md, "Offers").

Life of an operation:

1. :func:`create_operation` validates every item locally (:mod:`.validation`; the offer must exist
   locally for that account) and stores the operation with one row per item: ``invalid`` items
   carry the reasons and are never sent, the others are ``pending`` with the exact ``offer/save``
   payload (the account's stock buffer already applied: max(0, stock - buffer)).
2. The route hands the operation to the job system (``ctx.jobs.enqueue_bulk``): the in-process
   runner's task, or a ``magflow worker`` with ``MAGFLOW_JOBS=procrastinate``, where sync runs
   execute too. :meth:`.runner.BulkRunner.execute` claims it in the database (``worker_id`` and
   ``heartbeat_at`` of the operation, one atomic UPDATE, as for sync runs) and sends the pending
   items in chunks of at most 50 (docs/emag-protocol.md, "Rate and size limits"), one account after
   the other chunk by chunk (accounts in parallel; the client's limiter keeps each account at 3
   req/s). Before each call, in its own short transaction, the chunk's items become ``sending`` (and
   the claim is renewed); after it, in another: every item of the chunk gets eMAG's own answer
   (``succeeded`` / ``failed`` with eMAG's messages), accepted items update the local offer, and the
   operation's counters are recomputed from the items. The chunk's request is in the audit log.
3. Failures never leave an item unaccounted for: a request that fails after the client's retries
   (5xx, timeouts, 429s) fails its chunk's items with the error; an auth refusal fails the rest of
   that account's items without sending them; an unexpected error fails every item still pending
   ("not sent") and the operation. A failed item can be re-sent alone (:func:`prepare_retry`).
4. A process that stops mid-operation does not fail it. Shut down cleanly, it gives its claim
   back; killed, its heartbeat goes stale. Either way the job maintenance of the next process
   (:mod:`magflow.jobs.maintenance`) dispatches the operation again and it resumes: items already
   answered are not touched, ``pending`` ones are sent, and ``sending`` ones (sent, answer never
   recorded) are first read back from eMAG and sent again only if eMAG does not show their change
   (:meth:`.runner.BulkRunner._confirm` explains why a second send could not change the outcome
   anyway).
5. Progress is published through a :data:`.events.BulkPublisher` (``bulk.started``,
   ``bulk.progress`` after every chunk, then ``bulk.completed`` or ``bulk.failed``);
   :func:`.events.bus_publisher` puts them on the event bus, whichever process runs the operation.

Idempotency: an ``Idempotency-Key`` is stored with the operation (unique); the same key with the
same request returns that operation without sending anything again; with a different request it
is refused (:class:`IdempotencyConflictError`).

This module creates operations, queues them again and answers the routes' queries; sending,
confirming and resuming are :mod:`.runner`'s, publishing :mod:`.events`'.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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

MAX_ITEMS = 10_000


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


def apply_counts(op: BulkOperation, counts: dict[str, int]) -> None:
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
                    offer_payload(emag_id, changes, account.stock_buffer, account.warehouse_id)
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
    apply_counts(op, counts)
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
    apply_counts(op, counts)
    await session.flush()
    return op


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
    """``PATCH offer_stock/{id}`` (docs/emag-protocol.md, "Offers") for one local offer, buffer
    applied; the local offer takes the published stock once eMAG accepted it (204). Flushes, never
    commits."""
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
            # offer_stock sets the offer's one stock figure (docs/emag-protocol.md, "Offers");
            # locally it is the account's warehouse.
            "stock": [{"warehouse_id": account.warehouse_id, "value": published}],
            "stock_total": published,
            "general_stock": published,
            "updated_at": now,
        },
    )
    await session.refresh(offer)
    return StockUpdate(offer=offer, requested=stock, published=published)


__all__ = [
    "BulkOperationItem",
    "IdempotencyConflictError",
    "OfferNotFoundError",
    "OperationBusyError",
    "OperationNotFoundError",
    "apply_counts",
    "create_operation",
    "operation_view",
    "prepare_retry",
    "request_hash",
    "set_stock_buffer",
    "update_stock",
]
