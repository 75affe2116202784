"""The customers page: analytics KPIs and charts, the filtered table, CSV/XLSX export (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from magflow.web.client import ApiError
from magflow.web.listing import PAGE_SIZE, PageNumber, export, pages, qs
from magflow.web.session import User, api, is_htmx
from magflow.web.templating import render

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/customers", response_class=HTMLResponse)
async def customers_page(
    request: Request,
    user: User,
    search: Annotated[str | None, Query(max_length=200)] = None,
    tier: str | None = None,
    risk: str | None = None,
    channel: str | None = None,
    sort: str = "spend",
    page: PageNumber = 1,
) -> Response:
    filters = {"search": search, "tier": tier, "risk": risk, "channel": channel, "sort": sort}
    error = None
    try:
        data = await api(request, user).get(
            "/api/v1/admin/emag-customers",
            {**filters, "skip": (page - 1) * PAGE_SIZE, "limit": PAGE_SIZE},
        )
    except ApiError as exc:
        data, error = {"total": 0, "items": [], "summary": None}, exc.message
    summary = data.get("summary") or {}
    charts = {
        "tiers": summary.get("tier_distribution") or {},
        "channels": summary.get("channel_distribution") or {},
    }
    template = "_customers_table.html" if is_htmx(request) else "customers.html"
    return render(
        request,
        template,
        user,
        customers=data,
        summary=summary,
        filters=filters,
        pages=pages(data["total"], page),
        error=error,
        qs=qs,
        charts=charts,
        has_export=user.is_admin,
        export_base="/customers/export",
        oob_exports=is_htmx(request),
        export_qs=qs(filters),  # the export takes the listing's filters and sort
    )


@router.get("/customers/export")
async def customers_export(request: Request, user: User) -> Response:
    return await export(request, user, "/api/v1/admin/emag-customers/export")
