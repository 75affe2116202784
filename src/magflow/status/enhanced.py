"""Enhanced status: per eMAG account, what is stored and how its syncs are doing.

Every number is read from the database at request time (then cached for
:data:`STATUS_CACHE_TTL_SECONDS`): offer counts from ``emag_products_v2``, order counts from
``emag_orders``, runs and their errors from ``emag_sync_logs``. The health score is
``status.health.score`` over those facts.

Definitions:

- offers ``total``: offers still on eMAG (``missing_since`` unset); ``active``: status 1;
  ``sellable`` (EMAG_API.md §5.2): stock > 0, status 1, ``offer_validation_status`` 1 and a
  ``validation_status`` in :data:`SELLABLE_VALIDATION_STATUSES`; ``out_of_stock``: active offers
  with no stock; ``missing``: offers no longer returned by eMAG.
- orders: counts by eMAG status (0 cancelled … 5 returned, §5.9).
- recent runs: the account's last :data:`RECENT_RUNS` finished runs (both kinds); their
  ``api_calls``, ``rate_limited`` (429 answers) and ``errors`` entries (``kind``,
  ``status_code``) give the error counts; ``auth`` errors are ``EmagAuthError`` entries or HTTP
  401/403.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from croniter import croniter
from pydantic import BaseModel, Field
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.cache import Cache
from magflow.catalog.models import EmagProduct
from magflow.jobs.schedule import Schedule
from magflow.orders.models import EmagOrder
from magflow.settings import Settings
from magflow.status import health
from magflow.sync.models import SyncKind, SyncLog, SyncStatus

AccountType = Literal["main", "fbe", "both"]

#: Finished runs (per account, both kinds) that make "recent" for rates and errors.
RECENT_RUNS = 20
#: Recent 429/5xx/auth error entries listed per account.
RECENT_ERRORS_SHOWN = 10
#: How long a computed status is served from the cache.
STATUS_CACHE_TTL_SECONDS = 15.0
#: validation_status values of a sellable offer (EMAG_API.md §5.2).
SELLABLE_VALIDATION_STATUSES = (3, 9, 11, 12)
#: eMAG order statuses (§5.9).
ORDER_STATUS_NAMES = {
    0: "cancelled",
    1: "new",
    2: "in_progress",
    3: "prepared",
    4: "finalized",
    5: "returned",
}
AUTH_ERROR_KINDS = ("EmagAuthError", "auth")
AUTH_STATUS_CODES = (401, 403)
FINISHED = (
    SyncStatus.completed.value,
    SyncStatus.partial.value,
    SyncStatus.failed.value,
    SyncStatus.cancelled.value,
)


# -- the answer ---------------------------------------------------------------------------------


class OfferCounts(BaseModel):
    total: int = 0
    active: int = 0
    sellable: int = 0
    out_of_stock: int = 0
    missing: int = 0


class OrderCounts(BaseModel):
    total: int = 0
    by_status: dict[str, int] = Field(
        default_factory=dict, description="cancelled, new, in_progress, prepared, finalized, …"
    )


class RunBrief(BaseModel):
    id: int
    status: str
    mode: str
    trigger: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    age_seconds: float = Field(description="Since it finished (or started, or was queued)")
    duration_seconds: float | None
    processed_items: int
    message: str | None = Field(description="The last error's message, when it did not complete")


class KindStatus(BaseModel):
    schedule: str
    period_seconds: float | None
    last_run: RunBrief | None
    last_success: RunBrief | None
    running: bool


class RecentErrors(BaseModel):
    runs: int = Field(description="Finished runs considered (the latest RECENT_RUNS)")
    completed: int
    partial: int
    failed: int
    cancelled: int
    success_rate: float | None
    api_calls: int
    retries: int
    rate_limited: int = Field(description="HTTP 429 answers")
    server_errors: int = Field(description="Requests that still failed with a 5xx")
    auth_errors: int
    last_auth_error_at: datetime | None
    recent: list[dict[str, Any]] = Field(description="Latest 429/5xx/auth error entries")


class ReasonOut(BaseModel):
    factor: str
    penalty: float
    message: str


class HealthOut(BaseModel):
    score: int | None = Field(description="0-100; null for an inactive account")
    status: Literal["healthy", "warning", "critical", "inactive"]
    reasons: list[ReasonOut]


class AccountStatus(BaseModel):
    id: int
    name: str
    platform: str
    account_type: str
    is_active: bool
    offers: OfferCounts
    orders: OrderCounts
    syncs: dict[str, KindStatus]
    recent: RecentErrors
    health: HealthOut


class StatusSummary(BaseModel):
    accounts: int
    healthy: int
    warning: int
    critical: int
    inactive: int
    worst_score: int | None


class EnhancedStatus(BaseModel):
    generated_at: datetime = Field(description="When computed (the status is cached briefly)")
    account_type: AccountType
    schedules_enabled: bool
    summary: StatusSummary
    accounts: list[AccountStatus]


# -- schedules ----------------------------------------------------------------------------------


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


# -- queries ------------------------------------------------------------------------------------


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def offer_counts(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, OfferCounts]:
    p = EmagProduct
    present = p.missing_since.is_(None)
    active = and_(present, p.status == 1)
    result = await session.execute(
        select(
            p.account_id,
            _count_if(present),
            _count_if(active),
            _count_if(
                and_(
                    active,
                    p.stock_total > 0,
                    p.offer_validation_status == 1,
                    p.validation_status.in_(SELLABLE_VALIDATION_STATUSES),
                )
            ),
            _count_if(and_(active, p.stock_total <= 0)),
            _count_if(~present),
        )
        .where(p.account_id.in_(account_ids))
        .group_by(p.account_id)
    )
    return {
        row[0]: OfferCounts(
            total=row[1], active=row[2], sellable=row[3], out_of_stock=row[4], missing=row[5]
        )
        for row in result
    }


async def order_counts(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, OrderCounts]:
    result = await session.execute(
        select(EmagOrder.account_id, EmagOrder.status, func.count())
        .where(EmagOrder.account_id.in_(account_ids))
        .group_by(EmagOrder.account_id, EmagOrder.status)
    )
    counts: dict[int, OrderCounts] = {}
    for account_id, order_status, count in result:
        entry = counts.setdefault(account_id, OrderCounts())
        name = ORDER_STATUS_NAMES.get(order_status, str(order_status))
        entry.by_status[name] = entry.by_status.get(name, 0) + count
        entry.total += count
    return counts


async def _last_run(
    session: AsyncSession, account_id: int, kind: str, statuses: Sequence[str] | None = None
) -> SyncLog | None:
    query = select(SyncLog).where(SyncLog.account_id == account_id, SyncLog.kind == kind)
    if statuses is not None:
        query = query.where(SyncLog.status.in_(statuses))
    result = await session.execute(query.order_by(SyncLog.id.desc()).limit(1))
    return result.scalar_one_or_none()


async def _recent_runs(session: AsyncSession, account_id: int) -> Sequence[SyncLog]:
    result = await session.execute(
        select(SyncLog)
        .where(SyncLog.account_id == account_id, SyncLog.status.in_(FINISHED))
        .order_by(SyncLog.id.desc())
        .limit(RECENT_RUNS)
    )
    return result.scalars().all()


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
    )


def _recent(runs: Sequence[SyncLog]) -> tuple[RecentErrors, bool]:
    """The recent runs' figures, and whether the latest of them failed on authentication."""
    by_status = dict.fromkeys(FINISHED, 0)
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
                if (rate := health.success_rate(completed, partial, failed)) is not None
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
    freshness: list[health.KindFreshness] = []
    for kind, spec in specs.items():
        last = await _last_run(session, account.id, kind)
        success = await _last_run(session, account.id, kind, [SyncStatus.completed.value])
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
            health.KindFreshness(
                kind=kind,
                period_seconds=period,
                last_success_age_seconds=(
                    max(0.0, (now - success_at).total_seconds()) if success_at else None
                ),
            )
        )
    recent, auth_failing = _recent(await _recent_runs(session, account.id))
    if account.is_active:
        result = health.score(
            health.HealthInputs(
                kinds=tuple(freshness),
                completed_runs=recent.completed,
                partial_runs=recent.partial,
                failed_runs=recent.failed,
                api_calls=recent.api_calls,
                rate_limited=recent.rate_limited,
                server_errors=recent.server_errors,
                auth_failing=auth_failing,
                jitter_seconds=settings.schedule_jitter_seconds,
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
    )


async def enhanced_status(
    session: AsyncSession, settings: Settings, account_type: AccountType, now: datetime
) -> EnhancedStatus:
    """The status of every account of ``account_type`` (``both``: all), computed now."""
    accounts = await accounts_service.list_accounts(
        session, account_type=None if account_type == "both" else account_type
    )
    ids = [a.id for a in accounts]
    offers = await offer_counts(session, ids) if ids else {}
    orders = await order_counts(session, ids) if ids else {}
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
    return EnhancedStatus.model_validate(
        await cache.get_or_compute(
            f"status:enhanced:{account_type}", STATUS_CACHE_TTL_SECONDS, compute
        )
    )


__all__ = ["EnhancedStatus", "cached_status", "enhanced_status", "schedule_period"]
