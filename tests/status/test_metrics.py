"""``GET /metrics``: Prometheus text format, no token, MagFlow's counters in it."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from magflow.status.metrics import record_run_finished


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_record_run_finished_counts_runs_and_items() -> None:
    runs = sample("magflow_sync_runs_total", kind="orders", status="completed")
    items = sample("magflow_sync_items_total", kind="orders")
    record_run_finished("orders", "completed", 250)
    record_run_finished("orders", "failed", 0)
    assert sample("magflow_sync_runs_total", kind="orders", status="completed") == runs + 1
    assert sample("magflow_sync_items_total", kind="orders") == items + 250
    assert sample("magflow_sync_runs_total", kind="orders", status="failed") >= 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_metrics_endpoint(api: str) -> None:
    record_run_finished("offers", "partial", 7)
    async with httpx.AsyncClient(base_url=api) as client:
        response = await client.get("/metrics")  # no Authorization header
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in (
        "magflow_sync_runs",
        "magflow_sync_items",
        "magflow_emag_calls",
        "magflow_emag_retries",
        "magflow_emag_rate_limited",
        "magflow_cache_hits",
        "magflow_cache_misses",
    ):
        assert name in families, name
    partial = [
        s
        for s in families["magflow_sync_runs"].samples
        if s.name == "magflow_sync_runs_total"
        and s.labels == {"kind": "offers", "status": "partial"}
    ]
    assert partial and partial[0].value >= 1
