"""Status routes: ``GET /health`` (liveness, for load balancers and deploy checks), ``GET
/api/v1/emag/enhanced/status`` (per-account status and health score) and ``GET /metrics``.

``/health`` and ``/metrics`` answer without authentication. ``/metrics`` is for Prometheus
scrapers: expose it on an internal network only (or block it at the reverse proxy), never
publicly. It serves the default registry of this process: with procrastinate workers, the sync
counters of runs executed in a worker are counted in that worker's process, not the API's.
"""

from __future__ import annotations

import inspect
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from magflow.auth.dependencies import CurrentUser
from magflow.common.deps import Context, Session, read_only
from magflow.status import health_score, service
from magflow.status import metrics as status_metrics
from magflow.status.schemas import AccountType, EnhancedStatus

router = APIRouter(tags=["status"])
logger = logging.getLogger(__name__)


@router.get(
    "/health",
    responses={503: {"description": "A dependency is failing; `failing` names it"}},
)
async def health(ctx: Context) -> JSONResponse:
    """Database reachable, Redis reachable (where configured), migrations at head."""
    report = await service.check_health(ctx)
    body = {
        "status": "ok" if report.healthy else "error",
        "failing": report.failing,
        "checks": report.checks,
    }
    return JSONResponse(body, status_code=200 if report.healthy else 503)


@router.get(
    "/api/v1/emag/enhanced/status",
    response_model=EnhancedStatus,
    summary="Per account: offers, orders, recent syncs and errors, and a health score",
    description=(
        "Any logged-in user. Every figure comes from the database (cached "
        f"{service.STATUS_CACHE_TTL_SECONDS:g} s; `generated_at` says when it was computed; "
        "the cache is cleared when a sync run ends).\n\n"
        + inspect.cleandoc((service.enhanced_status.__doc__ or "").split("\n", 1)[-1])
        + "\n\n"
        + inspect.cleandoc(health_score.__doc__ or "")
    ),
)
@read_only
async def enhanced_status(
    ctx: Context, session: Session, _user: CurrentUser, account_type: AccountType = "both"
) -> Any:
    return await service.cached_status(
        session, ctx.settings, account_type, datetime.now(UTC), ctx.cache
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format 0.0.4)",
    description=(
        "No authentication: keep it off the public network. eMAG calls, retries and 429s, sync "
        "runs by outcome and items synced, cache hits and misses, WebSocket clients, process, "
        "and the to-do counts per account and kind (`magflow_todo_items`, "
        "`magflow_todo_overdue`), read from the database at each scrape."
    ),
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}}}},
)
async def metrics(ctx: Context) -> Response:
    """The default registry in the classic text format (what every Prometheus scrapes).

    The to-do gauges are refreshed first; if the database cannot answer, they keep their last
    values (and the failure is logged) so that the other metrics are still served."""
    try:
        async with ctx.db.session() as session:
            await status_metrics.refresh_todo_gauges(session, ctx.settings, datetime.now(UTC))
    except Exception:  # the exposition must not depend on the database being up
        logger.warning("to-do gauges not refreshed", exc_info=True)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_PLAIN_0_0_4)
