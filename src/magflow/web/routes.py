"""The dashboard's pages at ``/``, assembled: one module per area, Jinja2 templates, htmx.

- :mod:`magflow.web.session`: token cookies, the current user, CSRF and origin checks;
- :mod:`magflow.web.templating`: the Jinja environment, filters, globals, ``render``;
- :mod:`magflow.web.listing`: paging, query strings and exports the list pages share;
- one module per page area: :mod:`~magflow.web.login`, :mod:`~magflow.web.overview`,
  :mod:`~magflow.web.sync`, :mod:`~magflow.web.offers`, :mod:`~magflow.web.orders` (the list),
  :mod:`~magflow.web.order` (one order), :mod:`~magflow.web.customers`,
  :mod:`~magflow.web.performance` (seller performance),
  :mod:`~magflow.web.accounts`, :mod:`~magflow.web.users`, :mod:`~magflow.web.alerts`,
  :mod:`~magflow.web.pricing` (an offer's history chart, profit and repricer decisions).

**Data.** Pages read and write through the JSON API in-process (:mod:`magflow.web.client`), with
the user's token: roles, validation, audit and error messages are the API's, and no page runs a
query of its own. Write controls are only rendered for operators and admins; the API refuses
them to viewers anyway.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from magflow.web import (
    accounts,
    alerts,
    customers,
    invoicing,
    login,
    offers,
    order,
    orders,
    overview,
    performance,
    pricing,
    sync,
    users,
)
from magflow.web.session import ACCESS_COOKIE, CSRF_HEADER, REFRESH_COOKIE
from magflow.web.templating import STATIC_DIR

__all__ = ["ACCESS_COOKIE", "CSRF_HEADER", "REFRESH_COOKIE", "STATIC_DIR", "router"]

router = APIRouter(tags=["dashboard"], include_in_schema=False)

# The pages' routes themselves, not included routers, so that this router's ``routes`` is the
# dashboard's route table (tests/test_routes.py and the hardening drills read it). The orders
# list's literal paths (/orders/export, /orders/acknowledge) come before /orders/{order_id}.
for page in (
    login,
    overview,
    sync,
    offers,
    pricing,
    orders,
    order,
    invoicing,
    customers,
    performance,
    accounts,
    users,
    alerts,
):
    router.routes.extend(page.router.routes)


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    """The icon browsers ask for on every page (public, like ``/static``): MagFlow's own 32 px
    icon, an "M" in the top bar's colours, kept in ``static/favicon.ico``."""
    return FileResponse(
        STATIC_DIR / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )
