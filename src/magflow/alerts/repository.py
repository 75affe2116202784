"""Every query of the alerts tables, and the reads of orders, sync runs and bulk operations that
the rules' conditions are made of."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts.models import EmagAccount
from magflow.alerts.models import (
    AlertDelivery,
    AlertEvent,
    AlertRule,
    AlertSubscription,
    AlertWebhook,
    DeliveryStatus,
)
from magflow.auth.models import User
from magflow.bulk.models import BulkOperation
from magflow.db.upsert import dialect_insert
from magflow.emag.codes import OrderStatus, OrderType
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncLog, SyncStatus

# --- rules, webhooks, subscriptions --------------------------------------------------------------


async def list_rules(session: AsyncSession, *, enabled_only: bool = False) -> Sequence[AlertRule]:
    query = select(AlertRule).order_by(AlertRule.id)
    if enabled_only:
        query = query.where(AlertRule.enabled.is_(True))
    return (await session.execute(query)).scalars().all()


async def get_rule(session: AsyncSession, rule_id: int) -> AlertRule | None:
    return await session.get(AlertRule, rule_id)


async def list_webhooks(session: AsyncSession) -> Sequence[AlertWebhook]:
    return (await session.execute(select(AlertWebhook).order_by(AlertWebhook.id))).scalars().all()


async def get_webhook(session: AsyncSession, webhook_id: int) -> AlertWebhook | None:
    return await session.get(AlertWebhook, webhook_id)


async def webhook_by_name(session: AsyncSession, name: str) -> AlertWebhook | None:
    query = select(AlertWebhook).where(AlertWebhook.name == name)
    return (await session.execute(query)).scalar_one_or_none()


async def existing_webhook_ids(session: AsyncSession, ids: Sequence[int]) -> set[int]:
    if not ids:
        return set()
    query = select(AlertWebhook.id).where(AlertWebhook.id.in_(ids))
    return set((await session.execute(query)).scalars())


def add(session: AsyncSession, row: Any) -> None:
    session.add(row)


async def delete(session: AsyncSession, row: Any) -> None:
    await session.delete(row)


async def get_subscription(session: AsyncSession, user_id: int) -> AlertSubscription | None:
    return await session.get(AlertSubscription, user_id)


async def email_recipients(session: AsyncSession) -> list[str]:
    """Addresses of the active users who opted in to alert e-mails."""
    query = (
        select(User.email)
        .join(AlertSubscription, AlertSubscription.user_id == User.id)
        .where(AlertSubscription.email.is_(True), User.is_active.is_(True))
        .order_by(User.email)
    )
    return list((await session.execute(query)).scalars())


async def account_names(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(select(EmagAccount.id, EmagAccount.name))
    return {int(row[0]): str(row[1]) for row in rows}


# --- conditions ----------------------------------------------------------------------------------

# Orders still to ship: new, in progress, prepared (docs/emag-protocol.md, "Orders").
OPEN_STATUSES = (int(OrderStatus.NEW), int(OrderStatus.IN_PROGRESS), int(OrderStatus.PREPARED))


def _seller_orders(account_id: int | None) -> Any:
    """Orders the seller handles: eMAG fulfils type 2 (FBE) orders itself
    (docs/emag-protocol.md, "Orders"), so they never wait on the seller."""
    query = select(EmagOrder).where(EmagOrder.order_type != int(OrderType.FBE))
    if account_id is not None:
        query = query.where(EmagOrder.account_id == account_id)
    return query


async def orders_unacknowledged(
    session: AsyncSession, account_id: int | None, placed_before: datetime, limit: int
) -> Sequence[EmagOrder]:
    """New orders placed before ``placed_before`` (eMAG's ``date``; when it is missing, when
    MagFlow first stored the order), oldest first."""
    placed = func.coalesce(EmagOrder.order_date, EmagOrder.created_at)
    query = (
        _seller_orders(account_id)
        .where(EmagOrder.status == int(OrderStatus.NEW), placed <= placed_before)
        .order_by(placed, EmagOrder.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def orders_shipping_due(
    session: AsyncSession, account_id: int | None, now: datetime, until: datetime, limit: int
) -> Sequence[EmagOrder]:
    """Open orders whose ``maximum_date_for_shipment`` falls between ``now`` and ``until``."""
    deadline = EmagOrder.maximum_date_for_shipment
    query = (
        _seller_orders(account_id)
        .where(EmagOrder.status.in_(OPEN_STATUSES), deadline > now, deadline <= until)
        .order_by(deadline, EmagOrder.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def orders_flagged(
    session: AsyncSession,
    account_id: int | None,
    flag: str,
    *,
    placed_after: datetime,
    statuses: Sequence[int] | None,
    limit: int,
) -> Sequence[EmagOrder]:
    """Orders placed after ``placed_after`` whose boolean column ``flag`` is true."""
    column = getattr(EmagOrder, flag)
    placed = func.coalesce(EmagOrder.order_date, EmagOrder.created_at)
    query = _seller_orders(account_id).where(column.is_(True), placed > placed_after)
    if statuses is not None:
        query = query.where(EmagOrder.status.in_(statuses))
    query = query.order_by(placed, EmagOrder.id).limit(limit)
    return (await session.execute(query)).scalars().all()


async def runs_ended(
    session: AsyncSession,
    account_id: int | None,
    statuses: Sequence[str],
    finished_after: datetime,
    limit: int,
) -> Sequence[SyncLog]:
    query = select(SyncLog).where(
        SyncLog.status.in_(statuses), SyncLog.finished_at >= finished_after
    )
    if account_id is not None:
        query = query.where(SyncLog.account_id == account_id)
    query = query.order_by(SyncLog.finished_at, SyncLog.id).limit(limit)
    return (await session.execute(query)).scalars().all()


async def last_good_run_id(session: AsyncSession, account_id: int, before: datetime) -> int | None:
    """The account's latest run that ended completed or partial before ``before``: what an eMAG
    refusal of the server's IP would have failed (``ix_emag_sync_logs_account_kind_status``)."""
    query = select(func.max(SyncLog.id)).where(
        SyncLog.account_id == account_id,
        SyncLog.status.in_([SyncStatus.completed.value, SyncStatus.partial.value]),
        SyncLog.finished_at < before,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def bulk_with_failures(
    session: AsyncSession, statuses: Sequence[str], finished_after: datetime, limit: int
) -> Sequence[BulkOperation]:
    query = (
        select(BulkOperation)
        .where(BulkOperation.status.in_(statuses), BulkOperation.finished_at >= finished_after)
        .order_by(BulkOperation.finished_at, BulkOperation.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


# --- events and deliveries -----------------------------------------------------------------------


async def insert_event(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert an alert unless one with its ``dedupe_key`` exists; the new id, else None.

    ``ON CONFLICT DO NOTHING`` on the unique key: when two processes evaluate at once, the
    second waits for the first's row and inserts nothing (no error, no duplicate)."""
    insert = dialect_insert(session, AlertEvent.__table__)
    statement = (
        insert.values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(AlertEvent.__table__.c.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def due_deliveries(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    query = (
        select(AlertDelivery.id)
        .where(
            AlertDelivery.status == DeliveryStatus.pending.value,
            AlertDelivery.next_attempt_at <= now,
            or_(AlertDelivery.claimed_until.is_(None), AlertDelivery.claimed_until < now),
        )
        .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def claim_delivery(
    session: AsyncSession, delivery_id: int, now: datetime, until: datetime
) -> bool:
    """Lease the delivery to this process until ``until``: one atomic UPDATE that succeeds only
    while it is pending and nobody else holds a live lease."""
    result = await session.execute(
        update(AlertDelivery)
        .where(
            AlertDelivery.id == delivery_id,
            AlertDelivery.status == DeliveryStatus.pending.value,
            or_(AlertDelivery.claimed_until.is_(None), AlertDelivery.claimed_until < now),
        )
        .values(claimed_until=until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def get_delivery(
    session: AsyncSession, delivery_id: int
) -> tuple[AlertDelivery, AlertEvent] | None:
    query = (
        select(AlertDelivery, AlertEvent)
        .join(AlertEvent, AlertEvent.id == AlertDelivery.event_id)
        .where(AlertDelivery.id == delivery_id)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row is not None else None


def _delivery_filters(
    status: str | None, channel: str | None, rule_id: int | None, kind: str | None
) -> list[Any]:
    filters: list[Any] = []
    if status is not None:
        filters.append(AlertDelivery.status == status)
    if channel is not None:
        filters.append(AlertDelivery.channel == channel)
    if rule_id is not None:
        filters.append(AlertEvent.rule_id == rule_id)
    if kind is not None:
        filters.append(AlertEvent.kind == kind)
    return filters


async def list_deliveries(
    session: AsyncSession,
    *,
    status: str | None,
    channel: str | None,
    rule_id: int | None,
    kind: str | None,
    skip: int,
    limit: int,
) -> tuple[int, list[tuple[AlertDelivery, AlertEvent]]]:
    """A page of the delivery log, newest first, and how many rows match."""
    where = and_(true(), *_delivery_filters(status, channel, rule_id, kind))
    joined = select(AlertDelivery, AlertEvent).join(
        AlertEvent, AlertEvent.id == AlertDelivery.event_id
    )
    count_query = (
        select(func.count())
        .select_from(AlertDelivery)
        .join(AlertEvent, AlertEvent.id == AlertDelivery.event_id)
        .where(where)
    )
    total = (await session.execute(count_query)).scalar_one()
    rows = await session.execute(
        joined.where(where)
        .order_by(AlertDelivery.created_at.desc(), AlertDelivery.id.desc())
        .offset(skip)
        .limit(limit)
    )
    return total, [(row[0], row[1]) for row in rows]
