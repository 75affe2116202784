"""``GET /api/v1/emag/enhanced/status`` (per-account status and health score) and ``GET /metrics``.

``/metrics`` answers without authentication, as Prometheus scrapers expect: expose it on an
internal network only (or block it at the reverse proxy), never publicly. It serves the default
registry of this process: with procrastinate workers, the sync counters of runs executed in a
worker are counted in that worker's process, not the API's.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from magflow.auth.dependencies import CurrentUser
from magflow.common.deps import Context, Session
from magflow.status import enhanced, health
from magflow.status.enhanced import AccountType, EnhancedStatus

router = APIRouter(tags=["status"])


@router.get(
    "/api/v1/emag/enhanced/status",
    response_model=EnhancedStatus,
    summary="Per account: offers, orders, recent syncs and errors, and a health score",
    description=(
        "Any logged-in user. Every figure comes from the database (cached "
        f"{enhanced.STATUS_CACHE_TTL_SECONDS:g} s; `generated_at` says when it was computed; "
        "the cache is cleared when a sync run ends).\n\n"
        + inspect.cleandoc(enhanced.__doc__ or "")
        + "\n\n"
        + inspect.cleandoc(health.__doc__ or "")
    ),
)
async def enhanced_status(
    ctx: Context, session: Session, _user: CurrentUser, account_type: AccountType = "both"
) -> Any:
    return await enhanced.cached_status(
        session, ctx.settings, account_type, datetime.now(UTC), ctx.cache
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format 0.0.4)",
    description=(
        "No authentication: keep it off the public network. eMAG calls, retries and 429s, sync "
        "runs by outcome and items synced, cache hits and misses, WebSocket clients, process."
    ),
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}}}},
)
async def metrics() -> Response:
    """The default registry in the classic text format (what every Prometheus scrapes)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_PLAIN_0_0_4)
