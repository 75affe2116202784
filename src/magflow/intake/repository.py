"""Every query on the intake tables (and the two reads of accounts and orders intake needs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts.models import EmagAccount
from magflow.db.query import one_of
from magflow.intake.models import RETURNS_DUE, IntakePoll, IntakeState, OrderIntake
from magflow.orders.models import EmagOrder


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def account_by_secret_hash(session: AsyncSession, secret_hash: str) -> EmagAccount | None:
    result = await session.execute(
        select(EmagAccount).where(EmagAccount.callback_secret_hash == secret_hash)
    )
    return result.scalar_one_or_none()


async def add_if_absent(
    session: AsyncSession,
    account_id: int,
    emag_order_ids: Sequence[int],
    source: str,
    now: datetime,
) -> set[int]:
    """Insert a pending row for each order not yet known; returns the ids inserted. The unique
    (account, order) row arbitrates between concurrent callbacks, in any process."""
    if not emag_order_ids:
        return set()
    statement = (
        _insert(session, OrderIntake.__table__)
        .values(
            [
                {
                    "account_id": account_id,
                    "emag_order_id": order_id,
                    "state": IntakeState.pending.value,
                    "source": source,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "received_at": now,
                }
                for order_id in dict.fromkeys(emag_order_ids)
            ]
        )
        .on_conflict_do_nothing(index_elements=["account_id", "emag_order_id"])
        .returning(OrderIntake.emag_order_id)
    )
    result = await session.execute(statement)
    return {row[0] for row in result}


async def states(
    session: AsyncSession, account_id: int, emag_order_ids: Sequence[int]
) -> dict[int, OrderIntake]:
    result = await session.execute(
        select(OrderIntake).where(
            OrderIntake.account_id == account_id,
            one_of(session, OrderIntake.emag_order_id, list(emag_order_ids)),
        )
    )
    return {row.emag_order_id: row for row in result.scalars()}


async def reopen(
    session: AsyncSession,
    account_id: int,
    emag_order_ids: Sequence[int],
    now: datetime,
    *,
    acknowledged_before: datetime | None = None,
) -> None:
    """Make finished rows pending again (an event changed the order, or eMAG still shows it as
    new); with ``acknowledged_before``, not those acknowledged since then."""
    if not emag_order_ids:
        return
    recent = (
        and_(
            OrderIntake.acknowledged_at.is_not(None),
            OrderIntake.acknowledged_at >= acknowledged_before,
        )
        if acknowledged_before is not None
        else false()
    )
    await session.execute(
        update(OrderIntake)
        .where(
            OrderIntake.account_id == account_id,
            one_of(session, OrderIntake.emag_order_id, list(emag_order_ids)),
            OrderIntake.state != IntakeState.pending.value,
            ~recent,
        )
        .values(state=IntakeState.pending.value, next_attempt_at=now, outcome=None)
        .execution_options(synchronize_session=False)
    )


async def mark_returns_due(session: AsyncSession, account_id: int, emag_order_id: int) -> None:
    """Have the job read the order's returns too (a return callback named it): the row gets
    :data:`RETURNS_DUE` as its outcome and is pending, whatever its state, so that a job that
    finished it since the caller looked (a concurrent transaction) does not lose the callback;
    the maintenance timer dispatches it if no job is asked for."""
    await session.execute(
        update(OrderIntake)
        .where(
            OrderIntake.account_id == account_id,
            OrderIntake.emag_order_id == emag_order_id,
        )
        .values(outcome=RETURNS_DUE, state=IntakeState.pending.value)
        .execution_options(synchronize_session=False)
    )


async def returns_due(
    session: AsyncSession, account_id: int, emag_order_ids: Sequence[int]
) -> list[int]:
    """Those of ``emag_order_ids`` whose returns are to be read (:func:`mark_returns_due`)."""
    if not emag_order_ids:
        return []
    result = await session.execute(
        select(OrderIntake.emag_order_id).where(
            OrderIntake.account_id == account_id,
            one_of(session, OrderIntake.emag_order_id, list(emag_order_ids)),
            OrderIntake.outcome == RETURNS_DUE,
        )
    )
    return list(result.scalars())


def _claimable(now: datetime, stale_before: datetime) -> Any:
    return and_(
        OrderIntake.state == IntakeState.pending.value,
        OrderIntake.next_attempt_at <= now,
        or_(OrderIntake.claimed_at.is_(None), OrderIntake.claimed_at < stale_before),
    )


async def claim(
    session: AsyncSession,
    account_id: int,
    worker: str,
    now: datetime,
    stale_before: datetime,
    limit: int,
) -> list[int]:
    """Claim up to ``limit`` due pending orders of the account for ``worker``: an update that
    re-checks the claim, so that two workers never hold one order (a row locked by the other's
    update is re-evaluated after it commits, on PostgreSQL; SQLite has one writer)."""
    candidates = (
        await session.execute(
            select(OrderIntake.id)
            .where(OrderIntake.account_id == account_id, _claimable(now, stale_before))
            .order_by(OrderIntake.id)
            .limit(limit)
        )
    ).scalars()
    ids = list(candidates)
    if not ids:
        return []
    result = await session.execute(
        update(OrderIntake)
        .where(one_of(session, OrderIntake.id, ids), _claimable(now, stale_before))
        .values(claimed_by=worker, claimed_at=now)
        .returning(OrderIntake.emag_order_id)
        .execution_options(synchronize_session=False)
    )
    return [row[0] for row in result]


async def finish(
    session: AsyncSession,
    account_id: int,
    emag_order_id: int,
    *,
    state: IntakeState,
    outcome: str,
    now: datetime,
    acknowledged: bool = False,
    unless_returns_due: bool = False,
) -> None:
    """Finish a claimed row. With ``unless_returns_due``, a row a return callback marked
    (:data:`RETURNS_DUE`) since the job looked is not finished but given back (still pending,
    unclaimed): its returns are read by the next batch, not lost."""
    values: dict[str, Any] = {
        "state": state.value,
        "outcome": outcome,
        "claimed_by": None,
        "claimed_at": None,
        "last_error": None,
    }
    if state is IntakeState.done:
        values["stored_at"] = now
    if acknowledged:
        values["acknowledged_at"] = now
    where = [OrderIntake.account_id == account_id, OrderIntake.emag_order_id == emag_order_id]
    if unless_returns_due:
        where.append(or_(OrderIntake.outcome.is_(None), OrderIntake.outcome != RETURNS_DUE))
    result = await session.execute(
        update(OrderIntake)
        .where(*where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if unless_returns_due and not result.rowcount:  # type: ignore[attr-defined]
        await release(session, account_id, [emag_order_id])


async def finish_many(
    session: AsyncSession, account_id: int, emag_order_ids: Sequence[int], now: datetime
) -> None:
    """Mark orders stored and acknowledged."""
    await session.execute(
        update(OrderIntake)
        .where(
            OrderIntake.account_id == account_id,
            one_of(session, OrderIntake.emag_order_id, list(emag_order_ids)),
        )
        .values(
            state=IntakeState.done.value,
            outcome="acknowledged",
            claimed_by=None,
            claimed_at=None,
            last_error=None,
            stored_at=now,
            acknowledged_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def set_acknowledged(
    session: AsyncSession, account_id: int, emag_order_ids: Sequence[int], now: datetime
) -> None:
    """``acknowledged_at`` of stored orders, kept when already set (the first time counts)."""
    await session.execute(
        update(EmagOrder)
        .where(
            EmagOrder.account_id == account_id,
            one_of(session, EmagOrder.emag_id, list(emag_order_ids)),
            EmagOrder.acknowledged_at.is_(None),
        )
        .values(acknowledged_at=now)
        .execution_options(synchronize_session=False)
    )


async def postpone(
    session: AsyncSession,
    account_id: int,
    emag_order_ids: Sequence[int],
    *,
    error: str,
    retry_at: datetime,
) -> None:
    """Give the claims back with the error; the orders are tried again from ``retry_at``."""
    if not emag_order_ids:
        return
    await session.execute(
        update(OrderIntake)
        .where(
            OrderIntake.account_id == account_id,
            one_of(session, OrderIntake.emag_order_id, list(emag_order_ids)),
        )
        .values(
            claimed_by=None,
            claimed_at=None,
            last_error=error[:1000],
            next_attempt_at=retry_at,
            attempts=OrderIntake.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, account_id: int, emag_order_ids: Sequence[int]) -> None:
    """Give claims back untouched (the job stops, e.g. the account was disabled)."""
    if not emag_order_ids:
        return
    await session.execute(
        update(OrderIntake)
        .where(
            OrderIntake.account_id == account_id,
            one_of(session, OrderIntake.emag_order_id, list(emag_order_ids)),
        )
        .values(claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )


async def accounts_with_due_work(
    session: AsyncSession, now: datetime, stale_before: datetime
) -> list[int]:
    """Active accounts with pending orders nobody works on (a retry that came due, a job lost
    with its process)."""
    result = await session.execute(
        select(OrderIntake.account_id)
        .join(EmagAccount, EmagAccount.id == OrderIntake.account_id)
        .where(EmagAccount.is_active.is_(True), _claimable(now, stale_before))
        .distinct()
    )
    return list(result.scalars())


async def stored_orders(
    session: AsyncSession, account_id: int, emag_order_ids: Sequence[int]
) -> dict[int, EmagOrder]:
    result = await session.execute(
        select(EmagOrder).where(
            EmagOrder.account_id == account_id,
            one_of(session, EmagOrder.emag_id, list(emag_order_ids)),
        )
    )
    return {order.emag_id: order for order in result.scalars()}


async def take_poll_turn(
    session: AsyncSession, account_id: int, now: datetime, due_before: datetime
) -> bool:
    """Whether this process fires the account's poll now: the conditional update (or the insert
    of the account's first row) succeeds in one process only. A read first, so that the timer's
    ticks between two polls write nothing."""
    last = await session.scalar(
        select(IntakePoll.polled_at).where(IntakePoll.account_id == account_id)
    )
    if last is not None and last > due_before:
        return False
    result = await session.execute(
        update(IntakePoll)
        .where(IntakePoll.account_id == account_id, IntakePoll.polled_at <= due_before)
        .values(polled_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    inserted = await session.execute(
        _insert(session, IntakePoll.__table__)
        .values(account_id=account_id, polled_at=now)
        .on_conflict_do_nothing(index_elements=["account_id"])
        .returning(IntakePoll.account_id)
    )
    return inserted.first() is not None


async def pending_counts(session: AsyncSession, account_id: int) -> dict[str, int]:
    from sqlalchemy import func

    result = await session.execute(
        select(OrderIntake.state, func.count())
        .where(OrderIntake.account_id == account_id)
        .group_by(OrderIntake.state)
    )
    return {state: count for state, count in result.all()}


async def held_until(session: AsyncSession, account_id: int, now: datetime) -> datetime | None:
    """Until when :func:`hold` stopped the account's intake (its poll turn set in the future),
    or None."""
    turn = await session.scalar(
        select(IntakePoll.polled_at).where(IntakePoll.account_id == account_id)
    )
    if turn is None:
        return None
    turn = turn if turn.tzinfo is not None else turn.replace(tzinfo=now.tzinfo)
    return turn if turn > now else None


async def hold(
    session: AsyncSession, account_id: int, worker: str, until: datetime, error: str
) -> None:
    """eMAG refuses the account's calls (its IP is not whitelisted): its pending orders wait until
    ``until`` (this worker's claims given back, others' left alone) and its poll turn moves to
    ``until``, so neither the timer nor a callback makes the job call eMAG before then."""
    await session.execute(
        update(OrderIntake)
        .where(
            OrderIntake.account_id == account_id,
            OrderIntake.state == IntakeState.pending.value,
            or_(OrderIntake.claimed_by.is_(None), OrderIntake.claimed_by == worker),
        )
        .values(claimed_by=None, claimed_at=None, last_error=error[:1000], next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    moved = await session.execute(
        update(IntakePoll)
        .where(IntakePoll.account_id == account_id)
        .values(polled_at=until)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        await session.execute(
            _insert(session, IntakePoll.__table__)
            .values(account_id=account_id, polled_at=until)
            .on_conflict_do_nothing(index_elements=["account_id"])
        )


async def release_hold(
    session: AsyncSession, account_id: int, now: datetime, poll_due: datetime
) -> None:
    """Undo :func:`hold` (a sync run got through since: the IP is whitelisted): the account's
    pending orders are due now and its poll turn is set to ``poll_due`` (in the past: due)."""
    await session.execute(
        update(OrderIntake)
        .where(
            OrderIntake.account_id == account_id,
            OrderIntake.state == IntakeState.pending.value,
            OrderIntake.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(IntakePoll)
        .where(IntakePoll.account_id == account_id)
        .values(polled_at=poll_due)
        .execution_options(synchronize_session=False)
    )
