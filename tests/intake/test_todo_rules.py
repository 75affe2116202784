"""The to-do rules (magflow.intake.deadlines) and the order fields they read
(magflow.orders.mapping), as pure functions: the worked examples of their docstrings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from magflow.emag.codes import OrderStatus, OrderType
from magflow.intake.deadlines import (
    OrderFacts,
    ReturnFacts,
    Rules,
    TodoKind,
    order_todos,
    return_todo,
    sort_key,
)
from magflow.orders.mapping import acknowledgement_seen, cancellation_requested, has_invoice

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
RULES = Rules(ack_minutes=60, return_hours=48)


def facts(**changes: object) -> OrderFacts:
    values: dict[str, object] = {
        "id": 1,
        "emag_id": 101,
        "order_type": int(OrderType.SELLER),
        "status": int(OrderStatus.NEW),
        "order_date": T0,
        "maximum_date_for_shipment": T0 + timedelta(days=1, hours=6),
        "late_shipment": False,
        "cancellation_requested": False,
        "has_invoice": None,
        "finalization_date": None,
    }
    values.update(changes)
    return OrderFacts(**values)  # type: ignore[arg-type]


def kinds(order: OrderFacts, now: datetime) -> dict[TodoKind, tuple[datetime | None, bool]]:
    return {t.kind: (t.due_at, t.overdue(now)) for t in order_todos(order, now, RULES)}


def test_a_new_order_is_due_for_acknowledgement_an_hour_after_it_was_placed() -> None:
    order = facts(cancellation_requested=True)
    deadline = T0 + timedelta(days=1, hours=6)
    assert kinds(order, T0 + timedelta(minutes=30)) == {
        TodoKind.ACKNOWLEDGE: (T0 + timedelta(hours=1), False),
        TodoKind.CANCELLATION_REQUEST: (deadline, False),
    }
    assert kinds(order, T0 + timedelta(hours=1))[TodoKind.ACKNOWLEDGE] == (
        T0 + timedelta(hours=1),
        True,
    )


def test_fbe_orders_are_never_to_acknowledge_ship_or_late() -> None:
    now = T0 + timedelta(days=3)
    for status in (OrderStatus.NEW, OrderStatus.IN_PROGRESS, OrderStatus.PREPARED):
        order = facts(order_type=int(OrderType.FBE), status=int(status), late_shipment=True)
        assert order_todos(order, now, RULES) == []
    finalized = facts(order_type=int(OrderType.FBE), status=4, has_invoice=False)
    assert list(kinds(finalized, now)) == [TodoKind.INVOICE_MISSING]


def test_an_acknowledged_order_is_to_ship_until_its_deadline_then_late() -> None:
    deadline = T0 + timedelta(days=1, hours=6)
    order = facts(status=int(OrderStatus.IN_PROGRESS))
    assert kinds(order, T0 + timedelta(hours=2)) == {TodoKind.SHIP: (deadline, False)}
    assert kinds(order, deadline) == {TodoKind.LATE: (deadline, True)}
    # eMAG's own flag makes it late before the deadline too.
    flagged = facts(status=int(OrderStatus.PREPARED), late_shipment=True)
    assert kinds(flagged, T0 + timedelta(hours=2)) == {TodoKind.LATE: (deadline, False)}


def test_invoice_missing_only_when_known_missing_and_due_at_finalization() -> None:
    done = T0 + timedelta(hours=20)
    now = T0 + timedelta(days=2)
    missing = facts(status=4, has_invoice=False, finalization_date=done)
    assert kinds(missing, now) == {TodoKind.INVOICE_MISSING: (done, True)}
    assert order_todos(facts(status=4, has_invoice=True, finalization_date=done), now, RULES) == []
    # Unknown (stored before the field was read): never a to-do.
    assert order_todos(facts(status=4, has_invoice=None, finalization_date=done), now, RULES) == []


def test_a_return_waits_until_emag_deadline_or_48_hours_after_its_date() -> None:
    monday = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    new = ReturnFacts(700, 101, 3, 2, monday, None)
    found = return_todo(new, RULES)
    assert found is not None and found.due_at == monday + timedelta(days=2)
    emag_deadline = monday + timedelta(days=10)
    received = ReturnFacts(701, 102, 3, 6, monday, emag_deadline)
    found = return_todo(received, RULES)
    assert found is not None and found.due_at == emag_deadline
    assert return_todo(ReturnFacts(702, 103, 3, 7, monday, None), RULES) is None  # finalized
    assert return_todo(ReturnFacts(703, 104, 2, 2, monday, None), RULES) is None  # FBE


def test_sorted_by_due_time_undated_last() -> None:
    now = T0 + timedelta(days=2)
    todos = [
        *order_todos(facts(emag_id=1, status=2, maximum_date_for_shipment=None), now, RULES),
        *order_todos(facts(emag_id=2), now, RULES),  # ack due T0+1h, late at T0+30h
        *order_todos(
            facts(emag_id=3, status=4, has_invoice=False, finalization_date=T0), now, RULES
        ),
    ]
    ordered = [(t.emag_order_id, t.kind) for t in sorted(todos, key=sort_key)]
    assert ordered == [
        (3, TodoKind.INVOICE_MISSING),
        (2, TodoKind.ACKNOWLEDGE),
        (2, TodoKind.LATE),
        (1, TodoKind.SHIP),
    ]


def test_order_fields_read_from_emag() -> None:
    assert cancellation_requested({"cancellation_request": 1}) is True
    assert cancellation_requested({"cancellation_request": "0"}) is False
    assert cancellation_requested({"cancellation_request": "2026-11-20 10:00:00"}) is True
    assert cancellation_requested({"cancellation_request": None}) is False
    assert cancellation_requested({}) is None
    assert has_invoice([{"type": 3}, {"type": "1"}]) is True
    assert has_invoice([{"url": "x.pdf"}]) is True  # type 1 is the default
    assert has_invoice([{"type": 3}]) is False
    history = [
        {"status": 1, "at": "2026-11-20T10:00:00+02:00"},
        {"status": 2, "at": "2026-11-20T10:20:00+02:00"},
    ]
    assert acknowledgement_seen(history) == datetime.fromisoformat("2026-11-20T10:20:00+02:00")
    assert acknowledgement_seen(history[1:]) is None
    assert acknowledgement_seen([history[0], {"status": 0, "at": "x"}]) is None
