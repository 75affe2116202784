"""The to-do list of an account: its queries and the service over them. Never commits.

The rules live in :mod:`magflow.intake.deadlines`; here are the reads they need, shaped so that
the list stays cheap however many orders an account holds:

- **open orders** (status 1, 2, 3): a small share of an account's orders (those of the last days),
  read through ``ix_emag_orders_account_status`` and classified in Python;
- **finalized orders without an invoice**: counted, and the first ``skip + limit`` of them by
  finalization date read, through the partial index ``ix_emag_orders_invoice_missing`` (only such
  orders are in it);
- **returns** waiting for the seller (request status 2 or 6) through
  ``ix_emag_returns_account_status``.

A page of the list merges these streams, each already in due order, and cuts ``skip`` and
``limit`` from the merge: the first ``skip + limit`` to-dos overall are among the first
``skip + limit`` of each stream, so no stream is read beyond that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts.models import EmagAccount
from magflow.emag.codes import OrderStatus
from magflow.emag.platforms import platform_info
from magflow.intake.deadlines import (
    RETURN_WAITING_STATUSES,
    OrderFacts,
    ReturnFacts,
    Rules,
    Todo,
    TodoKind,
    maximum_finalization_date,
    order_todos,
    return_todo,
    sort_key,
)
from magflow.orders.models import EmagOrder
from magflow.orders.repository import invoice_missing
from magflow.returns.models import EmagReturn
from magflow.settings import Settings

_OPEN_STATUSES = (int(OrderStatus.NEW), int(OrderStatus.IN_PROGRESS), int(OrderStatus.PREPARED))
#: The farthest a page of the to-do list may reach (``skip + limit``).
MAX_REACH = 10_000

_FACT_COLUMNS: tuple[Any, ...] = (
    EmagOrder.id,
    EmagOrder.emag_id,
    EmagOrder.order_type,
    EmagOrder.status,
    EmagOrder.order_date,
    EmagOrder.maximum_date_for_shipment,
    EmagOrder.late_shipment,
    EmagOrder.cancellation_requested,
    EmagOrder.has_invoice,
    EmagOrder.finalization_date,
)


def rules_from(settings: Settings) -> Rules:
    return Rules(ack_minutes=settings.todo_ack_minutes, return_hours=settings.todo_return_hours)


# -- queries ------------------------------------------------------------------------------------


async def open_orders(
    session: AsyncSession, account_ids: Sequence[int] | None
) -> list[tuple[int, OrderFacts]]:
    """(account id, facts) of every order not shipped yet (status 1, 2 or 3)."""
    query = select(EmagOrder.account_id, *_FACT_COLUMNS).where(EmagOrder.status.in_(_OPEN_STATUSES))
    if account_ids is not None:
        query = query.where(EmagOrder.account_id.in_(account_ids))
    result = await session.execute(query)
    return [(row[0], OrderFacts(*row[1:])) for row in result]


def invoice_missing_select(account_id: int, limit: int) -> Select[Any]:
    """The first ``limit`` finalized orders without an invoice, oldest finalization first (an
    index scan of ``ix_emag_orders_invoice_missing``)."""
    return (
        select(*_FACT_COLUMNS)
        .where(invoice_missing([account_id]))
        .order_by(EmagOrder.finalization_date, EmagOrder.emag_id)
        .limit(limit)
    )


async def invoice_missing_page(
    session: AsyncSession, account_id: int, limit: int
) -> list[OrderFacts]:
    result = await session.execute(invoice_missing_select(account_id, limit))
    return [OrderFacts(*cast(tuple[Any, ...], row)) for row in result]


async def invoice_missing_counts(
    session: AsyncSession, account_ids: Sequence[int] | None, now: datetime
) -> dict[int, tuple[int, int]]:
    """Per account: (finalized orders without an invoice, of which overdue)."""
    overdue = func.count().filter(EmagOrder.finalization_date <= now)
    result = await session.execute(
        select(EmagOrder.account_id, func.count(), overdue)
        .where(invoice_missing(account_ids))
        .group_by(EmagOrder.account_id)
    )
    return {account_id: (total, late) for account_id, total, late in result}


async def waiting_returns(
    session: AsyncSession, accounts: Sequence[EmagAccount]
) -> list[tuple[int, ReturnFacts]]:
    """(account id, facts) of the returns waiting for the seller (request status 2 or 6), with
    the stored order's row id where the order is stored."""
    by_id = {a.id: a for a in accounts}
    result = await session.execute(
        select(
            EmagReturn.account_id,
            EmagReturn.emag_id,
            EmagReturn.order_emag_id,
            EmagReturn.order_type,
            EmagReturn.request_status,
            EmagReturn.return_date,
            EmagReturn.raw,
            EmagOrder.id,
        )
        .outerjoin(
            EmagOrder,
            and_(
                EmagOrder.account_id == EmagReturn.account_id,
                EmagOrder.emag_id == EmagReturn.order_emag_id,
            ),
        )
        .where(
            EmagReturn.account_id.in_(list(by_id)),
            EmagReturn.request_status.in_(RETURN_WAITING_STATUSES),
        )
    )
    found = []
    for account_id, emag_id, order_emag_id, order_type, status, date, raw, order_id in result:
        tz = platform_info(by_id[account_id].platform).tz
        found.append(
            (
                account_id,
                ReturnFacts(
                    emag_id=emag_id,
                    order_emag_id=order_emag_id,
                    order_type=order_type,
                    request_status=status,
                    return_date=date,
                    maximum_finalization_date=maximum_finalization_date(raw, tz),
                    order_id=order_id,
                ),
            )
        )
    return found


# -- service ------------------------------------------------------------------------------------


@dataclass
class KindCount:
    total: int = 0
    overdue: int = 0


@dataclass
class TodoList:
    counts: dict[TodoKind, KindCount]
    items: list[Todo] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(c.total for c in self.counts.values())

    @property
    def overdue(self) -> int:
        return sum(c.overdue for c in self.counts.values())


def _count(todos: Iterable[Todo], now: datetime) -> dict[TodoKind, KindCount]:
    counts = {kind: KindCount() for kind in TodoKind}
    for todo in todos:
        counts[todo.kind].total += 1
        counts[todo.kind].overdue += todo.overdue(now)
    return counts


async def todo_list(
    session: AsyncSession,
    account: EmagAccount,
    now: datetime,
    rules: Rules,
    *,
    kinds: Sequence[TodoKind] | None = None,
    skip: int = 0,
    limit: int = 50,
) -> TodoList:
    """The account's to-dos due first (``kinds``: only these), with counts per kind over the
    whole list (not only the page)."""
    reach = min(skip + limit, MAX_REACH)
    wanted = set(kinds or TodoKind)
    todos = [
        t
        for _, facts in await open_orders(session, [account.id])
        for t in order_todos(facts, now, rules)
    ]
    todos += [
        t
        for _, facts in await waiting_returns(session, [account])
        if (t := return_todo(facts, rules))
    ]
    counts = _count(todos, now)
    total, overdue = (await invoice_missing_counts(session, [account.id], now)).get(
        account.id, (0, 0)
    )
    counts[TodoKind.INVOICE_MISSING] = KindCount(total, overdue)
    if TodoKind.INVOICE_MISSING in wanted:
        invoices = await invoice_missing_page(session, account.id, reach)
        todos += [t for facts in invoices for t in order_todos(facts, now, rules)]
    todos = sorted((t for t in todos if t.kind in wanted), key=sort_key)
    return TodoList(counts=counts, items=todos[skip:reach])


async def counts_by_account(
    session: AsyncSession, accounts: Sequence[EmagAccount], now: datetime, rules: Rules
) -> dict[int, dict[TodoKind, KindCount]]:
    """Per account: the count of each kind of to-do (what ``/metrics`` exposes)."""
    ids = [a.id for a in accounts]
    found: dict[int, list[Todo]] = {account_id: [] for account_id in ids}
    for account_id, facts in await open_orders(session, ids):
        found[account_id] += order_todos(facts, now, rules)
    for account_id, ret in await waiting_returns(session, accounts):
        if (todo := return_todo(ret, rules)) is not None:
            found[account_id].append(todo)
    invoices = await invoice_missing_counts(session, ids, now)
    counts = {}
    for account_id, todos in found.items():
        counts[account_id] = _count(todos, now)
        total, overdue = invoices.get(account_id, (0, 0))
        counts[account_id][TodoKind.INVOICE_MISSING] = KindCount(total, overdue)
    return counts
