"""The health score of an eMAG account: 0-100, with the reasons that lowered it
(docs/architecture.md, "Status and health score").

It starts at 100 and loses, each input capped at its weight (a named constant below):

- **staleness**, per sync kind (offers, orders): nothing while the last *successful* run finished
  less than ``STALE_GRACE_PERIODS`` schedule periods (plus the schedule jitter) ago, then linearly
  up to the kind's full weight at ``STALE_FULL_PERIODS`` periods; the full weight when the kind
  never synced successfully. The period is the schedule's interval, or for a cron schedule the
  gap between its two fire times that follow the last success.
- **success rate** of the recent finished runs (cancelled ones excluded): ``completed`` counts 1,
  ``partial`` ``PARTIAL_RUN_CREDIT``, ``failed`` 0; loses ``WEIGHT_SUCCESS_RATE * (1 - rate)``.
- **429 rate**: HTTP 429 answers / API calls of those runs; the full weight from
  ``RATE_LIMITED_RATE_FULL``, linear below.
- **5xx rate**: requests that still failed with a 5xx after the client's retries / API calls of
  those runs; the full weight from ``SERVER_ERROR_RATE_FULL``, linear below. (Retried-and-
  recovered 5xx are not in the run logs; ``magflow_emag_calls_total`` at /metrics has them.)
- **missing offers withheld**: the latest completed offers run did not mark the offers it did not
  see missing (``sync.engine.judge_missing``: eMAG's count unreadable or above what was read, or
  more than ``MAGFLOW_MISSING_GUARD_SHARE`` of the offers gone) and no operator has confirmed
  them: ``WEIGHT_MISSING_WITHHELD``, and the status is at least ``warning`` whatever the score,
  since the catalog may show offers eMAG no longer has until someone looks.
- **auth failure**: the latest finished run of the account failed on authentication (bad
  credentials, no API rights, IP not whitelisted): ``WEIGHT_AUTH_FAILURE``, and the status is
  ``critical`` whatever the score, since nothing will sync until someone acts.

Status: ``healthy`` from ``HEALTHY_MIN``, ``warning`` from ``WARNING_MIN``, else ``critical``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

HealthStatus = Literal["healthy", "warning", "critical"]

#: Full penalty of a stale (or never successful) offers / orders sync.
WEIGHT_STALE_OFFERS = 20.0
WEIGHT_STALE_ORDERS = 20.0
WEIGHT_STALE = {"offers": WEIGHT_STALE_OFFERS, "orders": WEIGHT_STALE_ORDERS}
#: Full penalty of a 0 % success rate of recent runs.
WEIGHT_SUCCESS_RATE = 25.0
#: Full penalty of a 429 rate at or above RATE_LIMITED_RATE_FULL.
WEIGHT_RATE_LIMITED = 15.0
#: Full penalty of a 5xx rate at or above SERVER_ERROR_RATE_FULL.
WEIGHT_SERVER_ERRORS = 10.0
#: Penalty of an account whose latest run failed on authentication.
WEIGHT_AUTH_FAILURE = 40.0
#: Penalty of an account whose latest completed offers run withheld offers from missing.
WEIGHT_MISSING_WITHHELD = 15.0

#: A last success younger than this many schedule periods costs nothing...
STALE_GRACE_PERIODS = 1.5
#: ...and one this many periods old (or older) costs the kind's full weight.
STALE_FULL_PERIODS = 4.0
#: Credit of a ``partial`` run in the success rate (``completed`` 1, ``failed`` 0).
PARTIAL_RUN_CREDIT = 0.5
#: 429 answers per API call that cost the full WEIGHT_RATE_LIMITED.
RATE_LIMITED_RATE_FULL = 0.05
#: Final 5xx failures per API call that cost the full WEIGHT_SERVER_ERRORS.
SERVER_ERROR_RATE_FULL = 0.05

#: Lowest score that is ``healthy``, and lowest that is ``warning``.
HEALTHY_MIN = 80
WARNING_MIN = 50


@dataclass(frozen=True)
class KindFreshness:
    """One sync kind of one account: how old its last success is, against its schedule."""

    kind: str
    period_seconds: float | None  # None: the schedule could not be read
    last_success_age_seconds: float | None  # None: never synced successfully


@dataclass(frozen=True)
class HealthInputs:
    kinds: tuple[KindFreshness, ...]
    completed_runs: int = 0
    partial_runs: int = 0
    failed_runs: int = 0
    api_calls: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    auth_failing: bool = False
    jitter_seconds: float = 0.0
    #: The latest completed offers run's unconfirmed warning (sync.service.warning_message), with
    #: its run id; None when there is none.
    missing_withheld: str | None = None
    missing_withheld_run: int | None = None


@dataclass(frozen=True)
class Reason:
    factor: str
    penalty: float
    message: str


@dataclass(frozen=True)
class Health:
    score: int
    status: HealthStatus
    reasons: list[Reason] = field(default_factory=list)


def _ramp(value: float, start: float, full: float) -> float:
    """0 at or below ``start``, 1 at or above ``full``, linear between."""
    if value <= start:
        return 0.0
    if value >= full or full <= start:
        return 1.0
    return (value - start) / (full - start)


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def success_rate(completed: int, partial: int, failed: int) -> float | None:
    """Share of recent finished runs that succeeded (partial ones count PARTIAL_RUN_CREDIT)."""
    finished = completed + partial + failed
    if finished == 0:
        return None
    return (completed + PARTIAL_RUN_CREDIT * partial) / finished


def score(inputs: HealthInputs) -> Health:
    """The health of one account from its facts (see the module docstring)."""
    reasons: list[Reason] = []

    def lose(factor: str, weight: float, fraction: float, message: str) -> None:
        penalty = round(weight * fraction, 1)
        if penalty > 0:
            reasons.append(Reason(factor, penalty, message))

    for kind in inputs.kinds:
        weight = WEIGHT_STALE.get(kind.kind, 0.0)
        if kind.last_success_age_seconds is None:
            lose(f"{kind.kind}_stale", weight, 1.0, f"{kind.kind} never synced successfully")
            continue
        if kind.period_seconds is None:
            continue
        age, period = kind.last_success_age_seconds, kind.period_seconds
        start = STALE_GRACE_PERIODS * period + inputs.jitter_seconds
        full = STALE_FULL_PERIODS * period + inputs.jitter_seconds
        lose(
            f"{kind.kind}_stale",
            weight,
            _ramp(age, start, full),
            f"last successful {kind.kind} sync {_duration(age)} ago "
            f"(scheduled every {_duration(period)})",
        )

    rate = success_rate(inputs.completed_runs, inputs.partial_runs, inputs.failed_runs)
    if rate is not None:
        finished = inputs.completed_runs + inputs.partial_runs + inputs.failed_runs
        lose(
            "success_rate",
            WEIGHT_SUCCESS_RATE,
            1 - rate,
            f"{inputs.completed_runs} of the last {finished} runs completed "
            f"({inputs.partial_runs} partial, {inputs.failed_runs} failed)",
        )

    calls = max(inputs.api_calls, inputs.rate_limited, inputs.server_errors)
    if calls > 0:
        limited = inputs.rate_limited / calls
        lose(
            "rate_limited",
            WEIGHT_RATE_LIMITED,
            _ramp(limited, 0.0, RATE_LIMITED_RATE_FULL),
            f"{inputs.rate_limited} HTTP 429 in {inputs.api_calls} recent calls "
            f"({100 * limited:.1f} %)",
        )
        server = inputs.server_errors / calls
        lose(
            "server_errors",
            WEIGHT_SERVER_ERRORS,
            _ramp(server, 0.0, SERVER_ERROR_RATE_FULL),
            f"{inputs.server_errors} requests failed with HTTP 5xx in {inputs.api_calls} "
            f"recent calls ({100 * server:.1f} %)",
        )

    if inputs.auth_failing:
        lose(
            "auth",
            WEIGHT_AUTH_FAILURE,
            1.0,
            "the latest run failed on authentication: check the account's credentials, API "
            "rights and IP whitelist",
        )

    if inputs.missing_withheld:
        run = inputs.missing_withheld_run
        lose(
            "missing_withheld",
            WEIGHT_MISSING_WITHHELD,
            1.0,
            f"offers run {run}: {inputs.missing_withheld}; check eMAG, then confirm with "
            f"POST /api/v1/emag/enhanced/sync/{run}/confirm-missing or "
            f"'magflow sync confirm-missing {run}'",
        )

    total = math.floor(max(0.0, 100.0 - sum(r.penalty for r in reasons)) + 0.5)  # half up
    status: HealthStatus
    if inputs.auth_failing or total < WARNING_MIN:
        status = "critical"
    elif total < HEALTHY_MIN or inputs.missing_withheld:
        status = "warning"
    else:
        status = "healthy"
    reasons.sort(key=lambda r: -r.penalty)
    return Health(score=total, status=status, reasons=reasons)
