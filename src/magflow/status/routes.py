from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from magflow.common.deps import Context
from magflow.status.service import check_health

router = APIRouter(tags=["status"])


@router.get(
    "/health",
    responses={503: {"description": "A dependency is failing; `failing` names it"}},
)
async def health(ctx: Context) -> JSONResponse:
    """Database reachable, Redis reachable (where configured), migrations at head."""
    report = await check_health(ctx)
    body = {
        "status": "ok" if report.healthy else "error",
        "failing": report.failing,
        "checks": report.checks,
    }
    return JSONResponse(body, status_code=200 if report.healthy else 503)
