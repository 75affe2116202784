"""The simulator's routes for pricing: eMAG's commission estimate and the control of competing
offers (:mod:`.competition`).

**Commission estimate** (docs/emag-protocol.md, "Offers", commission): eMAG documents it only in
its Swagger, as a REST API beside ``api-3``: ``GET {root}/api/v1/commission/estimate/{ext_id}``
(``ext_id``: the seller's offer id), HTTP Basic auth like ``api-3``, answering
``{value, id, created, end_date}``. The shape is UNCERTAIN; the simulator answers it so, with
``value`` a percentage (7-25 by category, eMAG's published range), counts the call in the
"other" rate bucket like every non-order route (docs/emag-protocol.md, "Rate and size limits"),
refuses a wrong password with 401 and an unknown offer with 404 ``{"message": ...}``.

**Control** (not eMAG; no auth):

- ``GET|POST /_sim/accounts/{account}/offers/{id}/competitors``: read, or replace with
  ``[{name?, strategy: undercut|hold|dumper, price, floor?, step?, interval?}]``, the competing
  offers of a product;
- ``POST /_sim/accounts/{account}/offers/{id}/competitors/tick``: every competitor of the
  product reprices now (its turn came), then the offer as ``product_offer/read`` shows it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from magflow.emag_sim import competition
from magflow.emag_sim.ratelimit import OTHER

if TYPE_CHECKING:
    from magflow.emag_sim.app import Simulator

JSON = "application/json"


def commission_percent(category_id: int | None) -> float:
    """The simulator's commission of a category: 7-25 %."""
    return float(7 + ((category_id or 0) * 37) % 19)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type=JSON)


def routes(sim: Simulator) -> list[Route]:
    async def commission_estimate(request: Request) -> Response:
        from magflow.emag_sim.app import _basic_credentials

        credentials = _basic_credentials(request.headers.get("authorization"))
        key = credentials[0] if credentials else "ip:?"
        headers: dict[str, str] = {}
        if sim.rate_limit:
            decision = sim.limiter.hit(key, OTHER)
            headers = decision.headers
            if not decision.allowed:
                sim.stats.record("commission/estimate", 429, None)
                return _json(429, {"message": "Too Many Requests"}, headers)
        account = sim._authenticate(credentials)
        if account is None:
            sim.stats.record("commission/estimate", 401, None)
            return _json(401, {"message": "Invalid credentials"}, headers)
        try:
            offer_id = int(request.path_params["ext_id"])
        except ValueError:
            offer_id = -1
        offer = account.get_offer(offer_id) if offer_id > 0 else None
        if offer is None:
            sim.stats.record("commission/estimate", 404, account.name)
            return _json(404, {"message": f"Product {request.path_params['ext_id']} not found"})
        now = datetime.now(UTC)
        sim.stats.record("commission/estimate", 200, account.name)
        return _json(
            200,
            {
                "value": commission_percent(offer.get("category_id")),
                "id": offer_id,
                "created": now.strftime("%Y-%m-%d %H:%M:%S"),
                "end_date": (now + timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S"),
            },
            headers,
        )

    async def competitors(request: Request) -> Response:
        acc = sim.state.account(request.path_params["account"])
        offer_id = int(request.path_params["offer_id"])
        if acc is None or acc.get_offer(offer_id) is None:
            return _json(404, {"error": "not found"})
        arena = competition.arena(acc)
        if request.method == "POST":
            try:
                body = orjson.loads(await request.body() or b"null")
                arena.set(offer_id, competition.parse_competitors(body, time.time()))
            except (ValueError, KeyError, TypeError) as exc:
                return _json(400, {"error": str(exc)})
        return _json(200, [c.view() for c in arena.offers.get(offer_id, [])])

    async def tick(request: Request) -> Response:
        acc = sim.state.account(request.path_params["account"])
        offer_id = int(request.path_params["offer_id"])
        offer = acc.get_offer(offer_id) if acc is not None else None
        if acc is None or offer is None:
            return _json(404, {"error": "not found"})
        arena = competition.arena(acc)
        now = time.time()
        arena.tick(offer_id, competition._price(offer.get("sale_price")), now, force=True)
        return _json(200, arena.apply(offer, now))

    return [
        Route("/api/v1/commission/estimate/{ext_id}", commission_estimate, methods=["GET"]),
        Route(
            "/_sim/accounts/{account}/offers/{offer_id:int}/competitors",
            competitors,
            methods=["GET", "POST"],
        ),
        Route(
            "/_sim/accounts/{account}/offers/{offer_id:int}/competitors/tick",
            tick,
            methods=["POST"],
        ),
    ]
