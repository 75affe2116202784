"""The FastAPI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig

from magflow import __version__
from magflow.accounts.routes import router as accounts_router
from magflow.alerts.routes import router as alerts_router
from magflow.audit.routes import router as audit_router
from magflow.auth.gate import LoginShedMiddleware
from magflow.auth.routes import router as auth_router
from magflow.auth.users_routes import router as users_router
from magflow.bulk.routes import MAX_UPLOAD_BYTES
from magflow.bulk.routes import router as bulk_router
from magflow.bulk.routes import stock_router as offer_stock_router
from magflow.catalog.routes import router as offers_router
from magflow.common import errors, openapi
from magflow.common.admission import AdmissionMiddleware
from magflow.common.fastlane import FastLaneMiddleware
from magflow.common.logging import buffer_lines
from magflow.common.runtime import tune_gc
from magflow.common.security import (
    MIB,
    BearerTokenGuardMiddleware,
    RequestGuardMiddleware,
    SecurityHeadersMiddleware,
)
from magflow.context import AppContext
from magflow.customers.routes import router as customers_router
from magflow.db.migrate import upgrade
from magflow.exports.routes import ROUTERS as export_routers
from magflow.intake.routes import callback_router
from magflow.intake.routes import router as intake_router
from magflow.intake.todo_routes import router as todo_router
from magflow.invoicing.routes import files_router as invoice_files_router
from magflow.invoicing.routes import router as invoicing_router
from magflow.orders.actions_routes import router as order_actions_router
from magflow.orders.routes import router as orders_router
from magflow.performance.routes import router as performance_router
from magflow.pricing.routes import router as pricing_router
from magflow.realtime.hub import Hub
from magflow.realtime.routes import router as realtime_router
from magflow.returns.routes import router as returns_router
from magflow.settings import Settings
from magflow.status.routes import router as status_router
from magflow.sync.routes import router as sync_router
from magflow.sync.service import running_snapshot
from magflow.sync.wiring import build_runner
from magflow.web.routes import STATIC_DIR
from magflow.web.routes import router as web_router

# Every router, in the order they are mounted. Each carries its full prefix itself and is
# mounted without another one, so this list is the route table (see tests/test_routes.py).
ROUTERS: list[APIRouter] = [
    status_router,  # /health, /metrics and the enhanced status
    auth_router,
    users_router,
    accounts_router,
    sync_router,
    *export_routers,  # literal /export paths, before the listings' /{id} routes
    offers_router,
    orders_router,
    customers_router,  # after exports: /emag-customers/export is literal
    realtime_router,
    order_actions_router,
    returns_router,
    bulk_router,
    offer_stock_router,
    audit_router,
    alerts_router,
    todo_router,
    performance_router,  # /export (literal) is its only sub-path
    intake_router,  # /api/v1/accounts/{name}/callbacks
    callback_router,  # /callbacks/emag/{secret}/{kind}: eMAG's callbacks (no login)
    invoicing_router,
    invoice_files_router,  # /invoices/files/{token}.pdf: public, eMAG downloads from it
    pricing_router,
    web_router,  # the dashboard's pages at /: last, so that no page can shadow an API path
]

#: FastAPI's OpenTelemetry bridge, off (``MAGFLOW_OPENTELEMETRY``).
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

#: The hot read routes whose common case the fast lane answers (common/fastlane.py): the
#: listings and status a dashboard polls (bench/load.py's mix).
FAST_READ_PATHS = [
    offers_router.prefix,
    orders_router.prefix,
    customers_router.prefix,
    "/api/v1/emag/sync-logs",
    "/api/v1/emag/enhanced/status",
    "/api/v1/emag/enhanced/products/sync-progress",
]


#: How uvicorn serves the app (``magflow serve``, ``magflow demo`` and the tests' servers).
#:
#: WebSockets without permessage-deflate: a sync's progress reaches every watching client, and
#: with the extension each message is compressed once per client (each has its own compression
#: state), to save a few hundred bytes a second per client. With 1,000 clients watching a sync
#: and 100 read requests a second, the two API processes used 12 % less CPU without it (0-18 %
#: over three pairs of runs; BENCHMARKS.md, the eleventh issue 18 session). A client that offers
#: it (every browser does) gets an uncompressed connection.
SERVER_OPTIONS: dict[str, Any] = {"ws": "websockets-sansio", "ws_per_message_deflate": False}


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve the app with uvicorn on ``host:port`` until stopped, logging through the handlers
    ``configure_logging`` installed (``log_config=None``: uvicorn's own would replace them),
    their lines written in batches (``common.logging.buffer_lines``: an access line per
    request)."""
    import uvicorn

    buffer_lines()
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, **SERVER_OPTIONS)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await asyncio.to_thread(upgrade, settings.async_database_url)
        ctx = AppContext.build(settings)
        ctx.runner = build_runner(ctx)
        app.state.ctx = ctx
        hub = Hub(
            ctx.bus,
            auth_timeout=settings.ws_auth_timeout_seconds,
            recheck_seconds=settings.ws_recheck_seconds,
            max_connections_per_user=settings.ws_max_connections_per_user,
        )
        hub.snapshot_provider = partial(running_snapshot, ctx)
        await hub.start()
        app.state.hub = hub
        await ctx.jobs.start()  # sync runs and bulk operations; stop() pauses both for resuming
        tune_gc()
        try:
            yield
        finally:
            await ctx.jobs.stop()
            await hub.stop()
            await ctx.close()

    # MAGFLOW_PUBLIC_DOCS=false hides /docs, /redoc and /openapi.json.
    docs = settings.public_docs
    app = FastAPI(
        title="MagFlow",
        version=__version__,
        description="Operations hub for eMAG marketplace sellers.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        telemetry=None if settings.opentelemetry else NO_TELEMETRY,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    # Body size limits and NUL refusal; then security headers on every response (the guard's
    # 413/422 answers included). The bulk offer routes take a 20 MB file plus its envelope.
    app.add_middleware(
        RequestGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        route_limits={
            bulk_router.prefix + "/offers": max(settings.max_body_bytes, MAX_UPLOAD_BYTES + MIB)
        },
    )
    if settings.metrics_token is not None and settings.metrics_token.get_secret_value():
        app.add_middleware(
            BearerTokenGuardMiddleware,
            paths={"/metrics"},
            token=settings.metrics_token.get_secret_value(),
        )
    # The hot reads' common case without FastAPI's per-request machinery, inside the admission
    # control (its answers count as in flight) and the security headers.
    if settings.fast_lane:
        app.add_middleware(
            FastLaneMiddleware,
            paths=FAST_READ_PATHS,
            routes=[route for router in ROUTERS for route in router.routes],
        )
    # Admission control: at most max_in_flight requests at once in this process, the excess
    # answered 503 + Retry-After after a bounded wait (WebSockets, /health, /metrics, static
    # files exempt).
    # Inside the security headers, so its refusals carry them too.
    app.add_middleware(
        AdmissionMiddleware,
        max_in_flight=settings.max_in_flight,
        queue_wait=settings.admission_queue_wait_seconds,
        also_exempt=[auth_router.prefix + "/login"],  # its own gate: LoginShedMiddleware
    )
    app.add_middleware(
        SecurityHeadersMiddleware,
        docs_paths=(app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url),
        trusted_proxies=settings.trusted_proxies,
    )
    # Outermost: a login flood is refused before any other work (see auth/gate.py).
    app.add_middleware(LoginShedMiddleware, path=auth_router.prefix + "/login", state=app.state)
    # Errors become HTTP once, here (magflow.common.errors).
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    # The dashboard's own CSS/JS and the vendored htmx and Chart.js (shipped in the wheel).
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    openapi.install(app)
    return app
