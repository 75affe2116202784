"""eMAG's commission estimate: ``GET {root}/api/v1/commission/estimate/{ext_id}``.

The route belongs to eMAG's REST API documented only in its Swagger, beside ``api-3``
(docs/emag-protocol.md, "Offers", commission; UNCERTAIN): ``{root}`` is the account's API URL
without its ``/api-3`` suffix, the auth is the same HTTP Basic, the answer is taken as
``{value, id, created, end_date}`` (or that object under ``data`` or ``results``), and ``value``
is read as a percentage when above 1 (``15`` -> 0.15), else as a fraction. It has no envelope, so
it is called here with the account's rate limiter (one slot of the "other" bucket per call,
docs/emag-protocol.md, "Rate and size limits") rather than through ``EmagClient``'s envelope
checks. An offer eMAG does not know (404), a refusal or an unreadable answer gives no estimate:
the seller's category table then decides.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from magflow.accounts.service import AccountCredentials
from magflow.context import AppContext
from magflow.emag.platforms import platform_info
from magflow.emag.ratelimit import Bucket

log = logging.getLogger("magflow.pricing")


def commission_root(credentials: AccountCredentials) -> str:
    base = (credentials.base_url or platform_info(credentials.platform).api_url).rstrip("/")
    return base.removesuffix("/api-3")


def read_rate(body: Any) -> Decimal | None:
    """The estimate's rate as a fraction, or ``None`` (see the module)."""
    if isinstance(body, dict):
        for key in ("data", "results"):
            if isinstance(body.get(key), dict):
                body = body[key]
                break
    value = body.get("value") if isinstance(body, dict) else None
    try:
        rate = Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
    if rate is None or rate < 0:
        return None
    return (rate / 100 if rate > 1 else rate).quantize(Decimal("0.000001"))


async def estimates(
    ctx: AppContext, credentials: AccountCredentials, emag_ids: list[int]
) -> dict[int, Decimal | None]:
    """eMAG's estimate for each offer (``None`` where eMAG gave none)."""
    key = f"{credentials.platform}:{credentials.username}"
    found: dict[int, Decimal | None] = {}
    async with httpx.AsyncClient(
        base_url=commission_root(credentials),
        auth=httpx.BasicAuth(credentials.username, credentials.password),
        timeout=ctx.settings.emag_timeout_seconds,
        headers={"Accept": "application/json", "User-Agent": "MagFlow eMAG client"},
    ) as http:
        for emag_id in emag_ids:
            grant = await ctx.rate_limiter.acquire_slot(key, Bucket.OTHER)
            ctx.rate_limiter.confirm(grant, time.monotonic())
            try:
                response = await http.get(f"/api/v1/commission/estimate/{emag_id}")
            except httpx.HTTPError as exc:
                log.warning("commission estimate of offer %s failed: %s", emag_id, exc)
                found[emag_id] = None
                continue
            if response.status_code == 429:
                await ctx.rate_limiter.pause(key, Bucket.OTHER, 1.0)
            if response.status_code != 200:
                found[emag_id] = None
                continue
            try:
                found[emag_id] = read_rate(response.json())
            except ValueError:
                found[emag_id] = None
    return found
