"""What an order or a return asks of the seller, and by when: the rules of the to-do list.

Pure functions of stored facts and the time: no query, no I/O. :mod:`magflow.intake.todo` reads
the facts and :mod:`magflow.status.metrics` counts the result, so the list, its counts and the
``/metrics`` gauges follow one set of rules.

**Kinds** (one to-do per order and kind; an order can have several):

- ``acknowledge``: a new (status 1) seller-fulfilled order. eMAG repeats its new-order
  notification until the order is acknowledged and may still change or cancel it before then
  (docs/emag-protocol.md, "Orders", "Callbacks"); eMAG publishes no deadline, so MagFlow's rule is
  **due ``MAGFLOW_TODO_ACK_MINUTES`` (default 60) after the order was placed** (its ``date``).
- ``ship``: an acknowledged (status 2 or 3) seller-fulfilled order, not late yet. **Due at eMAG's
  ``maximum_date_for_shipment``** (no date: undated, listed last).
- ``late``: a seller-fulfilled order not shipped yet (status 1, 2 or 3) that eMAG flags
  ``late_shipment`` or whose ``maximum_date_for_shipment`` has passed. Due at that date. It
  replaces ``ship`` for the order.
- ``cancellation_request``: the customer asked to cancel (``cancellation_request``) a
  seller-fulfilled order not shipped yet. The answer (cancel with reason "by customer", or ship)
  is due before the parcel would leave: **at ``maximum_date_for_shipment``**, else at the
  acknowledgement deadline.
- ``invoice_missing``: a finalized (status 4) order of either type without an invoice attachment
  (attachments are the one write eMAG allows on FBE orders, and the invoice is due with the
  finalization: docs/emag-protocol.md, "Attachments and invoices"). **Due at
  ``finalization_date``** (overdue as soon as the order is finalized).
- ``return_waiting``: a return of a seller-fulfilled order waiting for the seller: new (2, to be
  approved or refused) or received (6, to be finalized) (docs/emag-protocol.md, "Returns"). **Due
  at eMAG's ``extra_info.maximum_finalization_date``** when sent, else
  ``MAGFLOW_TODO_RETURN_HOURS`` (default 48) after the return's date.

**FBE orders** (type 2) are eMAG's to acknowledge, ship and cancel: they only ever appear as
``invoice_missing`` (and their returns never). A fact MagFlow does not know (a null from an
order stored before these fields were read) never makes a to-do.

**Order.** By due time, earliest first (overdue ones first, the most overdue on top); undated
to-dos last; ties by kind (the order of the list above), then by id. A to-do is **overdue** when
its due time is at or before now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from magflow.emag.codes import OrderStatus, OrderType
from magflow.emag.coerce import to_datetime, to_dict

#: Order statuses of an order the seller has not shipped yet.
_OPEN = frozenset({OrderStatus.NEW, OrderStatus.IN_PROGRESS, OrderStatus.PREPARED})
_ACKNOWLEDGED_OPEN = frozenset({OrderStatus.IN_PROGRESS, OrderStatus.PREPARED})
#: Return ``request_status`` values waiting for the seller: 2 new, 6 received.
RETURN_NEW = 2
RETURN_RECEIVED = 6
RETURN_WAITING_STATUSES = (RETURN_NEW, RETURN_RECEIVED)


class TodoKind(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    SHIP = "ship"
    LATE = "late"
    CANCELLATION_REQUEST = "cancellation_request"
    INVOICE_MISSING = "invoice_missing"
    RETURN_WAITING = "return_waiting"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    TodoKind.ACKNOWLEDGE: "acknowledgement due",
    TodoKind.SHIP: "shipping due",
    TodoKind.LATE: "late shipment",
    TodoKind.CANCELLATION_REQUEST: "cancellation requested",
    TodoKind.INVOICE_MISSING: "invoice missing",
    TodoKind.RETURN_WAITING: "return waiting",
}
_KIND_RANK = {kind: rank for rank, kind in enumerate(TodoKind)}


@dataclass(frozen=True)
class Rules:
    """The two deadlines MagFlow sets itself (settings ``todo_ack_minutes`` and
    ``todo_return_hours``)."""

    ack_minutes: int = 60
    return_hours: int = 48


@dataclass(frozen=True)
class OrderFacts:
    """The stored columns of ``emag_orders`` the rules read (datetimes aware, UTC)."""

    id: int
    emag_id: int
    order_type: int
    status: int
    order_date: datetime | None
    maximum_date_for_shipment: datetime | None
    late_shipment: bool | None
    cancellation_requested: bool | None
    has_invoice: bool | None
    finalization_date: datetime | None


@dataclass(frozen=True)
class ReturnFacts:
    """A stored return (``emag_returns``) and its order's row id when the order is stored."""

    emag_id: int
    order_emag_id: int | None
    order_type: int | None
    request_status: int | None
    return_date: datetime | None
    maximum_finalization_date: datetime | None
    order_id: int | None = None


@dataclass(frozen=True)
class Todo:
    kind: TodoKind
    emag_order_id: int | None
    due_at: datetime | None
    order_id: int | None = None  # MagFlow's row id of the order (its dashboard page)
    return_id: int | None = None  # eMAG's RMA id, for return_waiting

    def overdue(self, now: datetime) -> bool:
        return self.due_at is not None and self.due_at <= now


_FAR = datetime.max.replace(tzinfo=None)


def sort_key(todo: Todo) -> tuple[Any, ...]:
    """Due time first (undated last), then kind, then the eMAG ids."""
    due = todo.due_at.astimezone(UTC).replace(tzinfo=None) if todo.due_at is not None else _FAR
    return (
        todo.due_at is None,
        due,
        _KIND_RANK[todo.kind],
        todo.emag_order_id or 0,
        todo.return_id or 0,
    )


def order_todos(order: OrderFacts, now: datetime, rules: Rules) -> list[Todo]:
    """Every to-do of one order (see the module docstring for the rules).

    Worked example (``ack_minutes=60``): a type 3 order placed at 10:00, status 1, maximum date
    for shipment tomorrow 16:00, with a cancellation request, read at 10:30 gives
    ``acknowledge`` due 11:00 (not overdue) and ``cancellation_request`` due tomorrow 16:00. The
    same order as type 2 (FBE) gives nothing.
    """

    def todo(kind: TodoKind, due: datetime | None) -> Todo:
        return Todo(kind, order.emag_id, due, order_id=order.id)

    status = order.status
    if order.order_type != OrderType.FBE and status in _OPEN:
        found: list[Todo] = []
        deadline = order.maximum_date_for_shipment
        ack_due = (
            order.order_date + timedelta(minutes=rules.ack_minutes)
            if order.order_date is not None
            else None
        )
        if status == OrderStatus.NEW:
            found.append(todo(TodoKind.ACKNOWLEDGE, ack_due))
        late = bool(order.late_shipment) or (deadline is not None and deadline <= now)
        if late:
            found.append(todo(TodoKind.LATE, deadline))
        elif status in _ACKNOWLEDGED_OPEN:
            found.append(todo(TodoKind.SHIP, deadline))
        if order.cancellation_requested:
            found.append(
                todo(TodoKind.CANCELLATION_REQUEST, deadline if deadline is not None else ack_due)
            )
        return found
    if status == OrderStatus.FINALIZED and order.has_invoice is False:
        return [todo(TodoKind.INVOICE_MISSING, order.finalization_date)]
    return []


def return_todo(ret: ReturnFacts, rules: Rules) -> Todo | None:
    """The ``return_waiting`` to-do of a return, if it waits for the seller.

    Worked example (``return_hours=48``): a new return (2) dated Monday 09:00 without eMAG's
    ``maximum_finalization_date`` is due Wednesday 09:00; one with it is due at that date.
    """
    if ret.request_status not in RETURN_WAITING_STATUSES or ret.order_type == OrderType.FBE:
        return None
    due = ret.maximum_finalization_date
    if due is None and ret.return_date is not None:
        due = ret.return_date + timedelta(hours=rules.return_hours)
    return Todo(
        TodoKind.RETURN_WAITING,
        ret.order_emag_id,
        due,
        order_id=ret.order_id,
        return_id=ret.emag_id,
    )


def maximum_finalization_date(raw: dict[str, Any] | None, tz: Any) -> datetime | None:
    """``extra_info.maximum_finalization_date`` of a return as read (real answers carry
    ``extra_info``; docs/emag-protocol.md, "Returns"), in the platform's zone."""
    extra = to_dict((raw or {}).get("extra_info"))
    return to_datetime(extra.get("maximum_finalization_date"), tz) if extra else None
