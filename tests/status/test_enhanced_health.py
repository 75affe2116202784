"""The health score formula on hand-built facts (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from magflow.status import health_score as health
from magflow.status.health_score import HealthInputs, KindFreshness
from magflow.status.service import schedule_period

ORDERS_PERIOD = 300.0  # 5m
OFFERS_PERIOD = 3600.0  # 1h
JITTER = 60.0


def inputs(
    orders_age: float | None = 60.0, offers_age: float | None = 600.0, **values: object
) -> HealthInputs:
    kinds = (
        KindFreshness("offers", OFFERS_PERIOD, offers_age),
        KindFreshness("orders", ORDERS_PERIOD, orders_age),
    )
    defaults: dict[str, object] = {"completed_runs": 10, "api_calls": 1000}
    defaults.update(values)
    return HealthInputs(kinds=kinds, jitter_seconds=JITTER, **defaults)  # type: ignore[arg-type]


def test_fresh_and_clean_is_100() -> None:
    result = health.score(inputs())
    assert (result.score, result.status, result.reasons) == (100, "healthy", [])


def test_staleness_ramps_against_the_schedule() -> None:
    grace = health.STALE_GRACE_PERIODS * ORDERS_PERIOD + JITTER
    full = health.STALE_FULL_PERIODS * ORDERS_PERIOD + JITTER
    assert health.score(inputs(orders_age=grace)).score == 100
    half = health.score(inputs(orders_age=(grace + full) / 2))
    assert half.score == 100 - health.WEIGHT_STALE_ORDERS / 2
    assert half.reasons[0].factor == "orders_stale"
    assert "scheduled every 5 min" in half.reasons[0].message
    assert health.score(inputs(orders_age=full * 10)).score == 100 - health.WEIGHT_STALE_ORDERS


def test_never_synced_loses_both_kinds() -> None:
    result = health.score(inputs(orders_age=None, offers_age=None, completed_runs=0))
    assert result.score == 100 - health.WEIGHT_STALE_OFFERS - health.WEIGHT_STALE_ORDERS
    assert result.status == "warning"
    assert {r.factor for r in result.reasons} == {"offers_stale", "orders_stale"}


def test_success_rate_counts_partial_runs_half() -> None:
    assert health.success_rate(5, 2, 3) == pytest.approx(0.6)
    result = health.score(inputs(completed_runs=5, partial_runs=2, failed_runs=3))
    assert result.score == 90  # 25 * 0.4 lost
    assert health.success_rate(0, 0, 0) is None


def test_rate_limits_and_server_errors() -> None:
    at_full = int(health.RATE_LIMITED_RATE_FULL * 1000)
    result = health.score(inputs(rate_limited=at_full // 2, server_errors=at_full))
    penalties = {r.factor: r.penalty for r in result.reasons}
    assert penalties == {
        "rate_limited": health.WEIGHT_RATE_LIMITED / 2,
        "server_errors": health.WEIGHT_SERVER_ERRORS,
    }
    assert result.score == 83  # 82.5, half up


def test_auth_failure_is_critical_whatever_the_score() -> None:
    result = health.score(inputs(auth_failing=True))
    assert result.status == "critical"
    assert result.score == 100 - health.WEIGHT_AUTH_FAILURE
    assert result.reasons[0].factor == "auth"


def test_status_thresholds() -> None:
    # Lose exactly 20 (healthy at 80) and 21 (warning).
    at_80 = health.score(inputs(orders_age=None))
    assert (at_80.score, at_80.status) == (health.HEALTHY_MIN, "healthy")
    worse = health.score(inputs(orders_age=None, completed_runs=24, failed_runs=1))
    assert (worse.score, worse.status) == (79, "warning")
    bad = health.score(inputs(orders_age=None, offers_age=None, completed_runs=0, failed_runs=5))
    assert bad.status == "critical" and bad.score < health.WARNING_MIN


def test_schedule_period_of_intervals_and_cron() -> None:
    after = datetime(2026, 11, 15, 10, 17, tzinfo=UTC)
    assert schedule_period("5m", after) == 300
    assert schedule_period("1h", after) == 3600
    assert schedule_period("*/10 * * * *", after) == 600
    assert schedule_period("0 3 * * *", after) == 86400
    assert schedule_period("not a schedule", after) is None


def test_offers_withheld_from_missing_warn_until_confirmed() -> None:
    """Even with nothing else wrong (a score of at least HEALTHY_MIN), an unconfirmed warning of
    the latest completed offers run makes the account ``warning``, and the reason says how to
    confirm."""
    result = health.score(inputs(missing_withheld="70 of 300 offers gone", missing_withheld_run=7))
    assert result.score == 100 - health.WEIGHT_MISSING_WITHHELD >= health.HEALTHY_MIN
    assert result.status == "warning"
    [reason] = result.reasons
    assert reason.factor == "missing_withheld"
    assert "offers run 7: 70 of 300 offers gone" in reason.message
    assert "/api/v1/emag/enhanced/sync/7/confirm-missing" in reason.message
