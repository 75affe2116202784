"""Prometheus metrics of MagFlow's own work (eMAG call metrics live in ``magflow.emag.metrics``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from magflow.settings import Settings

SYNC_RUNS = Counter(
    "magflow_sync_runs_total", "Sync runs that ended, by kind and outcome.", ["kind", "status"]
)
SYNC_ITEMS = Counter("magflow_sync_items_total", "Items written by sync runs.", ["kind"])


def record_run_finished(kind: str, status: str, items: int) -> None:
    SYNC_RUNS.labels(kind=kind, status=status).inc()
    SYNC_ITEMS.labels(kind=kind).inc(items)


# -- to-do gauges (magflow.intake) ---------------------------------------------------------------

TODO_ITEMS = Gauge(
    "magflow_todo_items",
    "Open to-dos per account and kind (magflow.intake.deadlines), as of the last /metrics scrape.",
    ["account", "kind"],
)
TODO_OVERDUE = Gauge(
    "magflow_todo_overdue",
    "Overdue to-dos per account and kind, as of the last /metrics scrape.",
    ["account", "kind"],
)


async def refresh_todo_gauges(session: AsyncSession, settings: Settings, now: datetime) -> None:
    """Set the to-do gauges from the database (the same rules and counts as
    ``GET /api/v1/todo``). Called by ``/metrics`` before each exposition: the counts are
    queries over indexed open orders, invoice-less finalized orders and waiting returns, so a
    scrape stays cheap. Accounts removed since the last scrape disappear from the gauges."""
    from magflow.accounts import service as accounts_service
    from magflow.intake import todo

    accounts = await accounts_service.list_accounts(session)
    counts = await todo.counts_by_account(session, accounts, now, todo.rules_from(settings))
    names = {a.id: a.name for a in accounts}
    TODO_ITEMS.clear()
    TODO_OVERDUE.clear()
    for account_id, kinds in counts.items():
        for kind, count in kinds.items():
            TODO_ITEMS.labels(account=names[account_id], kind=kind.value).set(count.total)
            TODO_OVERDUE.labels(account=names[account_id], kind=kind.value).set(count.overdue)
