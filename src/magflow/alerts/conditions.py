"""What each rule kind looks for, as alerts to raise: a subject, its version, a text and details.

The *version* is the part of the subject's state the rule is about, so that an alert is raised
once per (rule, subject, version) and again when that state changes:

- ``order_unacknowledged``: the order's status (an order leaves "new" only once);
- ``shipping_due``: the order's ``maximum_date_for_shipment`` (eMAG moving the deadline re-alerts);
- ``late_shipment``, ``cancellation_request``: the flag (raised once per order);
- ``sync_failed``: the run's status (a run ends once);
- ``ip_refused``: the account's refusal, not each run: the subject is the account and the version
  the last run that went through before the refusal (completed or partial). The refusal lasts
  until the seller whitelists the server's IP, and every scheduled run meanwhile is refused
  again (once an hour, :data:`magflow.jobs.schedule.IP_REFUSAL_PAUSE`): one alert for the whole
  refusal, a new one only after a run went through and eMAG refuses again;
- ``bulk_failures``: the operation's attempts and failure counts (a retry that fails again
  re-alerts).

History is not alerted on: run and bulk rules look at what ended after the rule was created,
flag rules at orders placed within :data:`FLAG_LOOKBACK`, and each rule raises at most
:data:`MAX_PER_RULE` alerts per evaluation (the rest come at the next one).

Alerts carry no personal data (no customer names, addresses or phones): they leave MagFlow by
e-mail and webhooks. An order is named by its account and eMAG id.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.alerts import repository
from magflow.alerts.models import AlertRule, RuleKind
from magflow.bulk.models import BulkOperation, OperationStatus
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncLog, SyncStatus

MAX_PER_RULE = 100
FLAG_LOOKBACK = timedelta(days=30)
# eMAG's refusal of a server whose IP is not whitelisted (docs/emag-protocol.md, "Answers and
# errors"), matched in a run's error messages.
IP_REFUSAL = "invalid vendor ip"
ENDED_BADLY = (SyncStatus.failed.value, SyncStatus.partial.value)
BULK_FAILED = (OperationStatus.completed_with_errors.value, OperationStatus.failed.value)


@dataclass(frozen=True)
class Found:
    """One alert a rule wants to raise."""

    subject: str
    version: str
    account_id: int | None
    text: str
    details: dict[str, Any] = field(default_factory=dict)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _order(order: EmagOrder, names: dict[int, str], text: str, version: str) -> Found:
    account = names.get(order.account_id, str(order.account_id))
    return Found(
        subject=f"order:{order.id}",
        version=version,
        account_id=order.account_id,
        text=f"{account}: order {order.emag_id} {text}",
        details={
            "account": account,
            "order_id": order.id,
            "emag_order_id": order.emag_id,
            "status": order.status,
            "order_date": _iso(order.order_date),
            "maximum_date_for_shipment": _iso(order.maximum_date_for_shipment),
        },
    )


def _run_messages(run: SyncLog) -> list[str]:
    messages: list[str] = []
    for error in run.errors or []:
        if isinstance(error, dict):
            messages += [str(m) for m in error.get("messages") or []]
            if error.get("message"):
                messages.append(str(error["message"]))
        else:
            messages.append(str(error))
    return messages


def _run(run: SyncLog, names: dict[int, str], text: str, messages: list[str]) -> Found:
    account = names.get(run.account_id, str(run.account_id)) if run.account_id else "-"
    return Found(
        subject=f"sync_run:{run.id}",
        version=run.status,
        account_id=run.account_id,
        text=f"{account}: {run.kind} sync run {run.id} {text}",
        details={
            "account": account,
            "run_id": run.id,
            "kind": run.kind,
            "status": run.status,
            "finished_at": _iso(run.finished_at),
            "messages": messages[-5:],
        },
    )


def _bulk(operation: BulkOperation) -> Found:
    return Found(
        subject=f"bulk:{operation.id}",
        version=f"{operation.attempts}:{operation.failed_items}:{operation.invalid_items}",
        account_id=None,
        text=(
            f"bulk operation {operation.id} ended {operation.status}: "
            f"{operation.failed_items} failed, {operation.invalid_items} invalid, "
            f"{operation.succeeded_items} of {operation.total_items} accepted"
        ),
        details={
            "operation_id": operation.id,
            "status": operation.status,
            "total_items": operation.total_items,
            "succeeded_items": operation.succeeded_items,
            "failed_items": operation.failed_items,
            "invalid_items": operation.invalid_items,
            "error": operation.error,
            "finished_at": _iso(operation.finished_at),
        },
    )


async def find(
    session: AsyncSession, rule: AlertRule, now: datetime, names: dict[int, str]
) -> list[Found]:
    """The alerts ``rule`` raises at ``now`` (already raised ones included: the caller's insert
    deduplicates them)."""
    kind = RuleKind(rule.kind)
    account = rule.account_id
    threshold = rule.threshold or 0
    if kind is RuleKind.order_unacknowledged:
        orders = await repository.orders_unacknowledged(
            session, account, now - timedelta(minutes=threshold), MAX_PER_RULE
        )
        return [
            _order(o, names, f"is not acknowledged after {threshold} min", str(o.status))
            for o in orders
        ]
    if kind is RuleKind.shipping_due:
        orders = await repository.orders_shipping_due(
            session, account, now, now + timedelta(hours=threshold), MAX_PER_RULE
        )
        return [
            _order(
                o,
                names,
                f"must ship by {_iso(o.maximum_date_for_shipment)} (within {threshold} h)",
                _iso(o.maximum_date_for_shipment) or "",
            )
            for o in orders
        ]
    if kind is RuleKind.late_shipment:
        orders = await repository.orders_flagged(
            session,
            account,
            "late_shipment",
            placed_after=now - FLAG_LOOKBACK,
            statuses=None,
            limit=MAX_PER_RULE,
        )
        return [_order(o, names, "is flagged by eMAG as shipped late", "late") for o in orders]
    if kind is RuleKind.cancellation_request:
        orders = await repository.orders_flagged(
            session,
            account,
            "cancellation_requested",
            placed_after=now - FLAG_LOOKBACK,
            statuses=repository.OPEN_STATUSES,
            limit=MAX_PER_RULE,
        )
        return [
            _order(o, names, "has a cancellation request from the customer", "requested")
            for o in orders
        ]
    if kind in (RuleKind.sync_failed, RuleKind.ip_refused):
        runs = await repository.runs_ended(
            session, account, ENDED_BADLY, rule.created_at, MAX_PER_RULE
        )
        found = []
        for run in runs:
            messages = _run_messages(run)
            if kind is RuleKind.sync_failed:
                last = f": {messages[-1]}" if messages else ""
                found.append(_run(run, names, f"ended {run.status}{last}", messages))
            elif run.account_id is not None and any(IP_REFUSAL in m.lower() for m in messages):
                alert = _run(
                    run,
                    names,
                    "was refused by eMAG: this server's IP is not whitelisted "
                    "(add it in the eMAG Marketplace settings)",
                    messages,
                )
                good = await repository.last_good_run_id(
                    session, run.account_id, run.finished_at or now
                )
                found.append(
                    replace(
                        alert,
                        subject=f"account:{run.account_id}:ip_refused",
                        version=f"after-run:{good or 0}",
                    )
                )
        return found
    operations = await repository.bulk_with_failures(
        session, BULK_FAILED, rule.created_at, MAX_PER_RULE
    )
    return [_bulk(op) for op in operations]
