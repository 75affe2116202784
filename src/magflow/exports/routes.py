"""Export routes. Their literal ``/export`` paths must be mounted before the listings'
``/{id}`` routes (``ROUTERS`` order), or ``/orders/export`` would reach ``/orders/{order_id}``."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from magflow.auth.dependencies import Admin, CurrentUser
from magflow.catalog.schemas import OfferFilterQuery
from magflow.common.deps import Context
from magflow.common.privacy import sees_personal_data
from magflow.customers.filters import CustomerFilterQuery
from magflow.customers.repository import CustomerSort
from magflow.exports import service
from magflow.exports.service import ExportFormat, ExportKind
from magflow.orders.schemas import OrderFilterQuery

orders_router = APIRouter(prefix="/api/v1/emag/orders", tags=["exports"])
offers_router = APIRouter(prefix="/api/v1/emag/offers", tags=["exports"])
customers_router = APIRouter(prefix="/api/v1/admin/emag-customers", tags=["exports"])


def _response(ctx: Context, spec: service.ExportSpec, fmt: ExportFormat) -> StreamingResponse:
    name = service.filename(spec.kind, fmt)
    return StreamingResponse(
        service.stream_export(ctx.db, spec, fmt),
        media_type=service.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@orders_router.get("/export")
async def export_orders(
    ctx: Context,
    user: CurrentUser,
    filters: OrderFilterQuery,
    format: ExportFormat = ExportFormat.csv,
    sort: Literal["id", "emag_id", "order_date", "status", "total", "modified"] = "order_date",
    order: Literal["asc", "desc"] = "desc",
) -> StreamingResponse:
    """Orders as CSV or XLSX, with the listing's filters; streamed."""
    spec = service.orders_spec(filters, sort=sort, descending=order == "desc")
    spec = replace(spec, mask_personal=not sees_personal_data(user))  # viewers: initials
    return _response(ctx, spec, format)


@offers_router.get("/export")
async def export_offers(
    ctx: Context,
    _user: CurrentUser,
    filters: OfferFilterQuery,
    format: ExportFormat = ExportFormat.csv,
    sort: Literal["id", "emag_id", "name", "sale_price", "stock", "updated_at"] = "id",
    order: Literal["asc", "desc"] = "asc",
) -> StreamingResponse:
    """Offers as CSV or XLSX, with the listing's filters; streamed."""
    spec = service.offers_spec(filters, sort=sort, descending=order == "desc")
    return _response(ctx, spec, format)


@customers_router.get("/export")
async def export_customers(
    ctx: Context,
    _admin: Admin,
    filters: CustomerFilterQuery,
    format: ExportFormat = ExportFormat.csv,
    sort: CustomerSort | Literal["total_spent", "orders_count", "last_order_at"] = "spend",
    order: Literal["asc", "desc"] = "desc",
) -> StreamingResponse:
    """The customers listing as CSV or XLSX: its filters, order and columns (analytics included),
    every matching row; streamed. Admins only (personal data). ``total_spent``,
    ``orders_count`` and ``last_order_at`` are accepted for ``spend``, ``orders`` and
    ``last_order``."""
    spec = service.customers_spec(filters, sort=sort, descending=order == "desc")
    return _response(ctx, spec, format)


ROUTERS = [orders_router, offers_router, customers_router]
__all__ = ["ROUTERS", "ExportKind"]
