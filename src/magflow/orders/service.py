"""Storing orders read from eMAG: the one place an order is written. Never commits.

Both the sync engine (pages of ``order/read``) and the order actions (the re-read after a write)
call :func:`store_orders`: map each raw order (:mod:`magflow.orders.mapping`), upsert by
(account, eMAG id), and move the customer aggregates by what each order contributed before and
contributes now (:func:`magflow.customers.service.apply_order_changes`). A page stored twice
therefore changes nothing, which the resumable sync relies on (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.customers.service import OrderFacts, apply_order_changes
from magflow.emag.coerce import to_int
from magflow.emag.platforms import platform_info
from magflow.orders import repository
from magflow.orders.mapping import order_row


@dataclass(frozen=True)
class StoredOrders:
    """What :func:`store_orders` did: orders new to the account, and orders updated."""

    created: int
    updated: int


def order_facts(order: Mapping[Any, Any], platform: str) -> OrderFacts:
    """What an order contributes to its customer, from a mapped row or a stored order's columns
    (:func:`magflow.orders.repository.known_orders`; the customer's contact fields then read as
    None, which only the contribution being added uses)."""
    customer = order.get("customer") or {}
    return OrderFacts(
        account_id=order["account_id"],
        platform=platform,
        customer_key=order["customer_key"],
        status=order["status"],
        order_type=order["order_type"],
        payment_mode_id=order["payment_mode_id"],
        total_with_vat=order["total_with_vat"],
        order_date=order["order_date"],
        currency=order["currency"],
        name=order.get("customer_name"),
        email=customer.get("email") or None,
        phone=customer.get("phone_1") or None,
        emag_customer_id=order.get("customer_emag_id"),
    )


async def store_orders(
    session: AsyncSession,
    *,
    account_id: int,
    platform: str,
    raw_orders: Sequence[dict[str, Any]],
    now: datetime,
    run_id: int | None = None,
) -> StoredOrders:
    """Store ``raw_orders`` (``order/read`` rows as sent) for one account.

    Rows without a readable id are skipped; a repeated id keeps the last row. ``run_id`` is the
    sync run that read them (None for a re-read outside a run: the order keeps the run that last
    saw it). Orders are written in eMAG id order, so concurrent writers lock rows in one order.
    """
    info = platform_info(platform)
    by_id: dict[int, dict[str, Any]] = {}
    for raw in raw_orders:
        emag_id = to_int(raw.get("id"))
        if emag_id is not None:
            by_id[emag_id] = raw
    if not by_id:
        return StoredOrders(0, 0)
    existing = await repository.known_orders(session, account_id, list(by_id))
    rows: list[dict[str, Any]] = []
    changes: list[tuple[OrderFacts | None, OrderFacts]] = []
    for emag_id in sorted(by_id):
        previous = existing.get(emag_id)
        row = order_row(
            by_id[emag_id],
            account_id=account_id,
            platform=platform,
            run_id=run_id,
            now=now,
            currency=info.currency,
            tz=info.tz,
            previous_status=previous.status if previous is not None else None,
            previous_history=previous.status_history if previous is not None else None,
        )
        rows.append({**row, "created_at": now})
        before = order_facts(previous._mapping, platform) if previous is not None else None
        changes.append((before, order_facts(row, platform)))
    await repository.upsert_orders(session, rows)
    await apply_order_changes(session, changes, now)
    created = sum(1 for emag_id in by_id if emag_id not in existing)
    return StoredOrders(created, len(by_id) - created)
