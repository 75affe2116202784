"""Prometheus metrics of MagFlow's own work (eMAG call metrics live in ``magflow.emag.metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

SYNC_RUNS = Counter(
    "magflow_sync_runs_total", "Sync runs that ended, by kind and outcome.", ["kind", "status"]
)
SYNC_ITEMS = Counter("magflow_sync_items_total", "Items written by sync runs.", ["kind"])


def record_run_finished(kind: str, status: str, items: int) -> None:
    SYNC_RUNS.labels(kind=kind, status=status).inc()
    SYNC_ITEMS.labels(kind=kind).inc(items)
