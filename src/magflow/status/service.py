"""The status routes' logic: liveness of what MagFlow depends on (``/health``) and the enhanced
status of every eMAG account (``/api/v1/emag/enhanced/status``: stored offers and orders, recent
syncs and their errors, and the health score of :mod:`magflow.status.health_score`).

Never commits: everything here only reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from croniter import croniter
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.cache import Cache
from magflow.context import AppContext
from magflow.db.migrate import head_revision
from magflow.emag.errors import IP_WHITELIST_HINT, vendor_ip
from magflow.jobs.schedule import Schedule, ip_refusal, ip_refusal_pause_until
from magflow.settings import Settings
from magflow.status import health_score, repository
from magflow.status.schemas import (
    AccountStatus,
    AccountType,
    EnhancedStatus,
    HealthOut,
    IpRefusalOut,
    KindStatus,
    OfferCounts,
    OrderCounts,
    ReasonOut,
    RecentErrors,
    RunBrief,
    StatusSummary,
)
from magflow.sync.models import SyncKind, SyncLog, SyncStatus
from magflow.sync.service import warning_message

#: Finished runs (per account, both kinds) that make "recent" for rates and errors.
RECENT_RUNS = 20
#: Recent 429/5xx/auth error entries listed per account.
RECENT_ERRORS_SHOWN = 10
#: How long a computed status is served from the cache.
STATUS_CACHE_TTL_SECONDS = 15.0
AUTH_ERROR_KINDS = ("EmagAuthError", "EmagIpNotWhitelistedError", "auth")
AUTH_STATUS_CODES = (401, 403)


# -- liveness (/health) ---------------------------------------------------------------------------

CHECK_TIMEOUT_SECONDS = 3.0


@dataclass
class HealthReport:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failing(self) -> list[str]:
        return [name for name, check in self.checks.items() if check["ok"] is False]

    @property
    def healthy(self) -> bool:
        return not self.failing


async def _database(ctx: AppContext) -> tuple[dict[str, Any], str | None]:
    async with ctx.db.session() as session:
        current = await repository.database_revision(session)
    return {"ok": True}, current


async def check_health(ctx: AppContext) -> HealthReport:
    """Database reachable, Redis reachable (where configured), migrations at head."""
    report = HealthReport()
    current: str | None = None
    try:
        report.checks["database"], current = await asyncio.wait_for(
            _database(ctx), CHECK_TIMEOUT_SECONDS
        )
    except Exception as exc:
        report.checks["database"] = {"ok": False, "error": _describe(exc)}

    head = head_revision()
    if report.checks["database"]["ok"]:
        report.checks["migrations"] = {"ok": current == head, "current": current, "head": head}
        if current != head:
            report.checks["migrations"]["error"] = (
                f"database is at revision {current}, code expects {head}: run 'magflow db upgrade'"
            )
    else:
        report.checks["migrations"] = {
            "ok": False,
            "head": head,
            "error": "unknown: database unreachable",
        }

    if ctx.redis is None:
        report.checks["redis"] = {"ok": None, "configured": False}
    else:
        try:
            await asyncio.wait_for(ctx.redis.ping(), CHECK_TIMEOUT_SECONDS)  # type: ignore[misc]
            report.checks["redis"] = {"ok": True, "configured": True}
        except Exception as exc:
            report.checks["redis"] = {"ok": False, "configured": True, "error": _describe(exc)}
    return report


def _describe(exc: BaseException) -> str:
    """A short reason, without connection strings (which may hold passwords)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    return type(exc).__name__


# -- enhanced status ----------------------------------------------------------------------------


def schedule_period(spec: str, after: datetime) -> float | None:
    """Seconds between runs of a schedule: its interval, or for a cron expression the gap between
    the two fire times that follow ``after``. None when ``spec`` is not a schedule."""
    try:
        schedule = Schedule.parse(spec)
    except ValueError:
        return None
    if schedule.interval is not None:
        return schedule.interval.total_seconds()
    assert schedule.cron is not None
    it = croniter(schedule.cron, after)
    first: datetime = it.get_next(datetime)
    second: datetime = it.get_next(datetime)
    return (second - first).total_seconds()


# -- assembling ---------------------------------------------------------------------------------


def _is_auth(entry: dict[str, Any]) -> bool:
    return entry.get("kind") in AUTH_ERROR_KINDS or entry.get("status_code") in AUTH_STATUS_CODES


def _is_server_error(entry: dict[str, Any]) -> bool:
    code = entry.get("status_code")
    return isinstance(code, int) and 500 <= code <= 599


def _is_rate_limited(entry: dict[str, Any]) -> bool:
    return entry.get("status_code") == 429 or entry.get("kind") == "EmagRateLimitedError"


def _message(run: SyncLog) -> str | None:
    if run.status == SyncStatus.completed.value or not run.errors:
        return None
    last = run.errors[-1]
    messages = last.get("messages") or [last.get("message") or ""]
    return "; ".join(str(m) for m in messages) or None


def _brief(run: SyncLog | None, now: datetime) -> RunBrief | None:
    if run is None:
        return None
    moment = run.finished_at or run.started_at or run.created_at
    duration = (
        (run.finished_at - run.started_at).total_seconds()
        if run.finished_at and run.started_at
        else None
    )
    return RunBrief(
        id=run.id,
        status=run.status,
        mode=run.mode,
        trigger=run.trigger,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        age_seconds=round(max(0.0, (now - moment).total_seconds()), 1),
        duration_seconds=round(duration, 3) if duration is not None else None,
        processed_items=run.processed_items,
        message=_message(run),
        warning=warning_message(run),
    )


def _recent(runs: Sequence[SyncLog]) -> tuple[RecentErrors, bool]:
    """The recent runs' figures, and whether the latest of them failed on authentication."""
    by_status = dict.fromkeys(repository.FINISHED, 0)
    entries: list[dict[str, Any]] = []
    for run in runs:
        by_status[run.status] = by_status.get(run.status, 0) + 1
        for entry in run.errors or []:
            if _is_auth(entry) or _is_server_error(entry) or _is_rate_limited(entry):
                entries.append({**entry, "run_id": run.id, "sync_kind": run.kind})
    auth = [e for e in entries if _is_auth(e)]
    latest = runs[0] if runs else None
    auth_failing = bool(
        latest is not None
        and latest.status == SyncStatus.failed.value
        and any(_is_auth(e) for e in latest.errors or [])
    )
    entries.sort(key=lambda e: (str(e.get("at") or ""), e["run_id"]), reverse=True)
    completed = by_status[SyncStatus.completed.value]
    partial = by_status[SyncStatus.partial.value]
    failed = by_status[SyncStatus.failed.value]
    return (
        RecentErrors(
            runs=len(runs),
            completed=completed,
            partial=partial,
            failed=failed,
            cancelled=by_status[SyncStatus.cancelled.value],
            success_rate=(
                round(rate, 4)
                if (rate := health_score.success_rate(completed, partial, failed)) is not None
                else None
            ),
            api_calls=sum(r.api_calls for r in runs),
            retries=sum(r.retries for r in runs),
            rate_limited=sum(r.rate_limited for r in runs),
            server_errors=sum(1 for e in entries if _is_server_error(e)),
            auth_errors=len(auth),
            last_auth_error_at=max(
                (datetime.fromisoformat(str(e["at"])) for e in auth if e.get("at")),
                default=None,
            ),
            recent=entries[:RECENT_ERRORS_SHOWN],
        ),
        auth_failing,
    )


async def account_status(
    session: AsyncSession,
    account: EmagAccount,
    settings: Settings,
    now: datetime,
    offers: OfferCounts,
    orders: OrderCounts,
) -> AccountStatus:
    specs = {
        SyncKind.offers.value: settings.schedule_offers,
        SyncKind.orders.value: settings.schedule_orders,
    }
    syncs: dict[str, KindStatus] = {}
    freshness: list[health_score.KindFreshness] = []
    withheld: tuple[str, int] | None = None
    lasts: list[SyncLog] = []
    for kind, spec in specs.items():
        last = await repository.last_run(session, account.id, kind)
        if last is not None:
            lasts.append(last)
        success = await repository.last_run(session, account.id, kind, [SyncStatus.completed.value])
        if success is not None and (warning := warning_message(success)) is not None:
            withheld = (warning, success.id)
        success_at = (success.finished_at or success.created_at) if success else None
        period = schedule_period(spec, success_at or now)
        syncs[kind] = KindStatus(
            schedule=spec,
            period_seconds=period,
            last_run=_brief(last, now),
            last_success=_brief(success, now),
            running=last is not None and SyncStatus(last.status).is_active,
        )
        freshness.append(
            health_score.KindFreshness(
                kind=kind,
                period_seconds=period,
                last_success_age_seconds=(
                    max(0.0, (now - success_at).total_seconds()) if success_at else None
                ),
            )
        )
    runs = await repository.recent_finished_runs(session, account.id, RECENT_RUNS)
    recent, auth_failing = _recent(runs)
    if account.is_active:
        result = health_score.score(
            health_score.HealthInputs(
                kinds=tuple(freshness),
                completed_runs=recent.completed,
                partial_runs=recent.partial,
                failed_runs=recent.failed,
                api_calls=recent.api_calls,
                rate_limited=recent.rate_limited,
                server_errors=recent.server_errors,
                auth_failing=auth_failing,
                jitter_seconds=settings.schedule_jitter_seconds,
                missing_withheld=withheld[0] if withheld else None,
                missing_withheld_run=withheld[1] if withheld else None,
            )
        )
        health_out = HealthOut(
            score=result.score,
            status=result.status,
            reasons=[
                ReasonOut(factor=r.factor, penalty=r.penalty, message=r.message)
                for r in result.reasons
            ],
        )
    else:
        health_out = HealthOut(score=None, status="inactive", reasons=[])
    return AccountStatus(
        id=account.id,
        name=account.name,
        platform=account.platform,
        account_type=account.account_type,
        is_active=account.is_active,
        offers=offers,
        orders=orders,
        syncs=syncs,
        recent=recent,
        health=health_out,
        ip_refusal=_ip_refusal(lasts),
    )


# -- eMAG's IP refusal (issue 13, point 10) --------------------------------------------------------


def _ip_refusal(lasts: Sequence[SyncLog]) -> IpRefusalOut | None:
    """The IP refusal of the account's latest run (either kind), with the seller's hint and the
    schedules' pause (``jobs.schedule.ip_refusal_pause_until``); None when that run was not
    refused for the IP, e.g. a later run went through."""
    if not lasts:
        return None
    latest = max(lasts, key=lambda run: run.id)
    entry = ip_refusal(latest.status, latest.errors)
    if entry is None:
        return None
    messages = [str(m) for m in entry.get("messages") or []]
    return IpRefusalOut(
        run_id=latest.id,
        at=latest.finished_at,
        ip=vendor_ip(messages),
        message="; ".join(messages) or "eMAG refused this server's IP",
        hint=str(entry.get("hint") or IP_WHITELIST_HINT),
        schedules_paused_until=ip_refusal_pause_until(
            latest.status, latest.errors, latest.finished_at
        ),
    )


async def enhanced_status(
    session: AsyncSession, settings: Settings, account_type: AccountType, now: datetime
) -> EnhancedStatus:
    """The status of every account of ``account_type`` (``both``: all), computed now.

    Every number is read from the database at request time (then cached for
    :data:`STATUS_CACHE_TTL_SECONDS`): offer counts from ``emag_products_v2``, order counts from
    ``emag_orders``, runs and their errors from ``emag_sync_logs``. The health score is
    ``status.health_score.score`` over those facts.

    Definitions:

    - offers ``total``: offers still on eMAG (``missing_since`` unset); ``active``: status 1;
      ``sellable`` (docs/emag-protocol.md, "Offers"): stock > 0, status 1,
      ``offer_validation_status`` 1 and a ``validation_status`` in ``SELLABLE_VALIDATION_STATUSES``
      (magflow.status.repository); ``out_of_stock``: active offers with no stock; ``missing``:
      offers no longer returned by eMAG.
    - orders: counts by eMAG status (0 cancelled … 5 returned, docs/emag-protocol.md, "Orders"),
      and ``waiting_for_acknowledgement``: new orders fulfilled by the seller (FBE orders are
      eMAG's to acknowledge).
    - ``warning`` of a run (and the health reason ``missing_withheld``): the latest completed
      offers run did not mark the offers it did not see missing and nobody confirmed them yet
      (``sync.engine.judge_missing``).
    - recent runs: the account's last :data:`RECENT_RUNS` finished runs (both kinds); their
      ``api_calls``, ``rate_limited`` (429 answers) and ``errors`` entries (``kind``,
      ``status_code``) give the error counts; ``auth`` errors are ``EmagAuthError`` entries or HTTP
      401/403.
    """
    accounts = await accounts_service.list_accounts(
        session, account_type=None if account_type == "both" else account_type
    )
    ids = [a.id for a in accounts]
    offers = await repository.offer_counts(session, ids) if ids else {}
    orders = await repository.order_counts(session, ids) if ids else {}
    rows = [
        await account_status(
            session,
            account,
            settings,
            now,
            offers.get(account.id, OfferCounts()),
            orders.get(account.id, OrderCounts()),
        )
        for account in accounts
    ]
    statuses = [row.health.status for row in rows]
    scores = [row.health.score for row in rows if row.health.score is not None]
    return EnhancedStatus(
        generated_at=now,
        account_type=account_type,
        schedules_enabled=settings.schedules_enabled,
        summary=StatusSummary(
            accounts=len(rows),
            healthy=statuses.count("healthy"),
            warning=statuses.count("warning"),
            critical=statuses.count("critical"),
            inactive=statuses.count("inactive"),
            worst_score=min(scores) if scores else None,
        ),
        accounts=rows,
    )


async def cached_status(
    session: AsyncSession,
    settings: Settings,
    account_type: AccountType,
    now: datetime,
    cache: Cache | None = None,
) -> EnhancedStatus:
    """:func:`enhanced_status`, served from ``cache`` for STATUS_CACHE_TTL_SECONDS when given."""

    async def compute() -> dict[str, Any]:
        status = await enhanced_status(session, settings, account_type, now)
        return status.model_dump(mode="json")

    if cache is None:
        return EnhancedStatus.model_validate(await compute())
    # Kept validated in the process for a second (Cache.near): read on every dashboard poll.
    return await cache.near(
        f"status:enhanced:{account_type}",
        STATUS_CACHE_TTL_SECONDS,
        compute,
        EnhancedStatus.model_validate,
    )
