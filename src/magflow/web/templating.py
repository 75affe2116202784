"""The dashboard's Jinja2 environment: templates, filters, globals and :func:`render`.

Filters: ``dt`` (a date and time, in a given zone with the zone named), ``money``, ``duration``
and ``html_json`` (a value as JSON that is safe inside HTML: the one way pages embed JSON).
Globals: the eMAG code enums (``OrderStatus``, ``OrderType``, ``PaymentMode``, ``OfferStatus``,
each with ``.label`` and ``labels()``), so templates compare and label codes by name, never by
a bare number; and ``CSRF_HEADER``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from magflow.emag.codes import OfferStatus, OrderStatus, OrderType, PaymentMode
from magflow.web.session import CSRF_HEADER, WebUser, finish

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")

# What html_json escapes: "<" and ">" so that no "</script>" or "<!--" can end or change the
# element the JSON sits in; "&" so that no character reference is decoded inside an attribute;
# "'" so that the JSON can sit in a single-quoted attribute.
_HTML_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "'": "\\u0027"})


def html_json(value: Any) -> Markup:
    """``value`` as JSON that is inert inside HTML (a ``<script type="application/json">``
    element or a single-quoted attribute) and parses back to the same value.

    ``json.dumps`` alone leaves ``</script>`` as is: a string such as an order's currency could
    close the element and inject markup. The escapes are JSON's own ``\\u003c`` forms, which
    ``JSON.parse`` turns back into the characters."""
    # Markup on purpose: the text can no longer contain <, > or & (escaped above).
    return Markup(json.dumps(value, default=str).translate(_HTML_UNSAFE))  # noqa: S704


def _parse_dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def fmt_dt(value: Any, tz: tzinfo | None = None) -> str:
    """``YYYY-MM-DD HH:MM``: in UTC without ``tz``; in ``tz`` with its abbreviation (``EET``,
    ``EEST``...) when given. A value without a zone is taken as UTC (the API's are UTC)."""
    parsed = _parse_dt(value)
    if parsed is None:
        return "—"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if tz is None:
        return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return parsed.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def fmt_money(value: Any, currency: str | None = None) -> str:
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{amount:,.2f}"
    return f"{text} {currency}" if currency else text


def fmt_duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    total = int(float(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


templates.env.filters["dt"] = fmt_dt
templates.env.filters["money"] = fmt_money
templates.env.filters["duration"] = fmt_duration
templates.env.filters["html_json"] = html_json
templates.env.globals["OrderStatus"] = OrderStatus
templates.env.globals["OrderType"] = OrderType
templates.env.globals["PaymentMode"] = PaymentMode
templates.env.globals["OfferStatus"] = OfferStatus
templates.env.globals["CSRF_HEADER"] = CSRF_HEADER


def _nav(user: WebUser | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    items = [
        ("/", "Overview"),
        ("/sync", "Sync"),
        ("/offers", "Offers"),
        ("/profit", "Profit"),
        ("/orders", "Orders"),
        ("/invoicing", "Invoices"),
        ("/customers", "Customers"),
        ("/alerts", "Alerts"),
        ("/performance", "Performance"),
    ]
    if user.is_admin:
        items.append(("/admin", "Accounts"))
        items.append(("/users", "Users"))
    return items


def render(
    request: Request,
    name: str,
    user: WebUser | None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    response = templates.TemplateResponse(
        request,
        name,
        {"user": user, "nav": _nav(user), **context},
        status_code=status_code,
        headers=headers,
    )
    return finish(request, response)


def flash(request: Request, user: WebUser, message: str, kind: str = "ok") -> Response:
    return render(request, "_flash.html", user, message=message, kind=kind)
