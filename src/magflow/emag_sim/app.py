"""The simulator as a Starlette ASGI app: the eMAG API under ``/api-3`` and a control API under
``/_sim`` (documented in the package docstring, :mod:`magflow.emag_sim`).

Request pipeline for ``/api-3/{resource}/{action}``
(docs/emag-protocol.md, "Requests and authentication", "Answers and errors",
"Rate and size limits"):

1. route resolution (path-parameter routes such as ``order/acknowledge/{id}``);
2. the rate limit, per Basic-auth username (even a wrong password counts,
   docs/emag-protocol.md, "Rate and size limits"), also for unknown URLs; 429 in Kong's format;
3. unknown URL or method → 404 ``{"message":"Invalid URL"}``;
4. HTTP Basic auth → 403 ``{"isError":true,"messages":["You are not allowed to use this API."]}``;
5. fault injection (decided before processing: a faulted write is never applied);
6. body parsing (the forms of docs/emag-protocol.md, "Requests and authentication") and the 4000
   input vars limit;
7. the action (:mod:`.api`).

Every answer counts in ``GET /_sim/stats``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from magflow.emag_sim import competition, pricing_routes
from magflow.emag_sim import faults as fault_bodies
from magflow.emag_sim.api import ApiError, EmagApi, Reply, envelope, fail
from magflow.emag_sim.bodies import MAX_INPUT_VARS, BodyError, parse_body
from magflow.emag_sim.callbacks import CallbackDispatcher
from magflow.emag_sim.config import FaultConfig, SimConfig
from magflow.emag_sim.faults import FaultInjector
from magflow.emag_sim.ratelimit import FixedWindowLimiter, bucket_for
from magflow.emag_sim.state import AccountState, SimState

JSON = "application/json"
PARAM_ROUTES = frozenset({"order/acknowledge", "offer_stock", "order/unlock-courier"})
logger = logging.getLogger(__name__)
FORBIDDEN = json.dumps(
    {"isError": True, "messages": ["You are not allowed to use this API."], "results": []}
).encode()
INVALID_URL = b'{"message":"Invalid URL"}'


def _dumps(value: Any) -> bytes:
    """Compact JSON, as eMAG sends it. orjson: the simulator shares the machine with what it
    serves in tests and benchmarks, and the standard library took most of a page's time."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class Stats:
    """Requests served per route and status, 429s issued, faults injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: dict[str, dict[str, int]] = {}
            self.total = 0
            self.rate_limited = 0
            self.by_account: dict[str, int] = {}

    def record(self, route: str, status: int, account: str | None) -> None:
        with self._lock:
            per_route = self.requests.setdefault(route, {})
            per_route[str(status)] = per_route.get(str(status), 0) + 1
            self.total += 1
            if account:
                self.by_account[account] = self.by_account.get(account, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "requests": {route: dict(codes) for route, codes in self.requests.items()},
                "rate_limited": self.rate_limited,
                "by_account": dict(self.by_account),
            }


class Simulator:
    """State + limiter + faults + stats; ``app`` is the ASGI application."""

    def __init__(self, config: SimConfig, now: float | None = None) -> None:
        self.config = config
        self._built_at = time.time() if now is None else now
        self.state = SimState(config, now=self._built_at)
        self.api = EmagApi(self.state)
        self._routes = self.api.routes()
        self._root_routes = self.api.root_routes()
        self.limiter = FixedWindowLimiter()
        self.rate_limit = config.rate_limit
        self.faults = FaultInjector(config.faults, config.seed)
        self.stats = Stats()
        self.control_rng = random.Random(config.seed * 31 + 7)
        self.callbacks = CallbackDispatcher(config.callback_repeat_seconds)
        for acc in config.effective_accounts():
            if acc.callbacks:
                self.callbacks.configure(acc.name, acc.callbacks)
        self.callbacks.attach(self.state)
        self.app = Starlette(routes=self._starlette_routes())
        self.app.state.simulator = self

    def reset(self) -> None:
        """Back to the initial state (same anchor time), faults from the config, empty stats."""
        self.state = SimState(self.config, now=self._built_at)
        self.api = EmagApi(self.state)
        self._routes = self.api.routes()
        self._root_routes = self.api.root_routes()
        self.limiter.reset()
        self.rate_limit = self.config.rate_limit
        self.faults = FaultInjector(self.config.faults, self.config.seed)
        self.stats.reset()
        self.control_rng = random.Random(self.config.seed * 31 + 7)
        self.callbacks.attach(self.state)

    # --- eMAG API --------------------------------------------------------------------------

    async def handle_api(self, request: Request) -> Response:
        return await self._serve(request, request.path_params.get("path", ""), self._routes)

    async def handle_root(self, request: Request) -> Response:
        """The actions eMAG documents without ``/api-3`` (the AWB labels,
        :meth:`EmagApi.root_routes`), through the same pipeline."""
        return await self._serve(request, request.url.path, self._root_routes)

    async def _serve(
        self, request: Request, path: str, routes: dict[str, tuple[frozenset[str], Any]]
    ) -> Response:
        route, params = EmagApi.resolve(path)
        method = request.method
        entry = routes.get(route)
        known = entry is not None and method in entry[0]
        if route in PARAM_ROUTES and not params:
            known = False  # ``order/acknowledge`` without its id
        stat_route = route if known else "<invalid>"
        credentials = _basic_credentials(request.headers.get("authorization"))
        key = (
            credentials[0]
            if credentials
            else f"ip:{request.client.host if request.client else '?'}"
        )
        headers: dict[str, str] = {}
        if self.rate_limit:
            decision = self.limiter.hit(key, bucket_for(route))
            headers = decision.headers
            if not decision.allowed:
                with self.stats._lock:
                    self.stats.rate_limited += 1
                return self._respond(stat_route, 429, fault_bodies.BODY_429, headers, None)
        if not known or entry is None:
            return self._respond(stat_route, 404, INVALID_URL, headers, None)
        account = self._authenticate(credentials)
        if account is None:
            return self._respond(route, 403, FORBIDDEN, headers, None)
        if fault_bodies.vendor_ip_refused(self.faults.config, account.username):
            client_ip = request.client.host if request.client else "unknown"
            refusal = fail(fault_bodies.vendor_ip_refusal(client_ip))
            return self._reply(route, refusal, headers, account)
        fault = self.faults.draw(route)
        if fault is not None and fault != "slow":
            return await self._fault(fault, route, headers, account)
        if fault == "slow":
            await asyncio.sleep(self.faults.config.slow_seconds)
        body = await request.body()
        try:
            payload, n_vars = parse_body(
                body, request.headers.get("content-type", ""), request.url.query
            )
        except BodyError as exc:
            if route == "offer_stock":
                return self._respond(route, 400, b'{"message":"Invalid content"}', headers, account)
            return self._reply(route, fail(f"Invalid content: {exc}"), headers, account)
        if n_vars > MAX_INPUT_VARS:
            return self._reply(
                route, fail(f"Maximum input vars of {MAX_INPUT_VARS} exceeded"), headers, account
            )
        handler = entry[1]
        try:
            reply = handler(account, payload, params)
        except ApiError as exc:
            reply = fail(str(exc))
        except Exception:  # a simulator bug: answer like eMAG's 500 and keep serving
            logger.exception("simulator error on %s", route)
            return self._respond(route, 500, fault_bodies.BODY_500, headers, account)
        response = self._reply(route, reply, headers, account)  # serialised: later edits stay out
        if route == "order/read" and self.faults.config.edit_after_read:
            self._edit_after_read(account, reply)
        return response

    def _edit_after_read(self, account: AccountState, reply: Reply) -> None:
        """The ``edit_after_read`` fault: the orders just read may change on eMAG's side before
        the client saves them (a customer's edit), at most once per order."""
        body = reply.body
        rows = body.get("results") if isinstance(body, dict) and not body.get("isError") else None
        for row in rows if isinstance(rows, list) else []:
            order_id = int(row["id"])
            idx = account.order_index(order_id)
            if idx is None or row.get("type") != 3 or order_id in account.edited_after_read:
                continue
            if self.faults.draw_edit():
                account.edited_after_read.add(order_id)
                street = str((row.get("customer") or {}).get("shipping_street") or "")
                account.edit_order(
                    idx,
                    {
                        "customer": {"shipping_street": f"{street} (changed by the customer)"},
                        "observation": "Please ring twice",
                    },
                    time.time(),
                )

    def _authenticate(self, credentials: tuple[str, str] | None) -> AccountState | None:
        if credentials is None:
            return None
        account = self.state.accounts.get(credentials[0])
        if account is None or account.password != credentials[1]:
            return None
        return account

    def _reply(
        self, route: str, reply: Reply, headers: dict[str, str], account: AccountState | None
    ) -> Response:
        if isinstance(reply.body, bytes):  # a document (an AWB label), sent as is
            return self._respond(
                route,
                reply.status,
                reply.body,
                {**headers, **reply.headers},
                account,
                media_type=reply.media_type,
            )
        body = b"" if reply.body is None else _dumps(reply.body)
        return self._respond(route, reply.status, body, {**headers, **reply.headers}, account)

    def _respond(
        self,
        route: str,
        status: int,
        body: bytes,
        headers: dict[str, str],
        account: AccountState | None,
        media_type: str | None = JSON,
    ) -> Response:
        self.stats.record(route, status, account.name if account else None)
        if status == 204:
            return Response(status_code=204, headers=headers)
        return Response(body, status_code=status, headers=headers, media_type=media_type)

    async def _fault(
        self, fault: str, route: str, headers: dict[str, str], account: AccountState
    ) -> Response:
        if fault == "rate_429":
            # An injected 429 looks like a burst over the 1-second window (the common case), not
            # an exhausted minute, so a client backs off for about a second.
            limited = {
                k: ("0" if k.endswith("Remaining-second") else v) for k, v in headers.items()
            }
            return self._respond(route, 429, fault_bodies.BODY_429, limited, account)
        if fault == "error_500":
            return self._respond(route, 500, fault_bodies.BODY_500, headers, account)
        if fault == "error_502":
            return self._respond(
                route, 502, fault_bodies.BODY_502, headers, account, media_type="text/html"
            )
        if fault == "error_504":
            return self._respond(route, 504, fault_bodies.BODY_504, headers, account)
        if fault == "timeout":
            await asyncio.sleep(self.faults.config.timeout_seconds)
            return self._respond(route, 504, fault_bodies.BODY_504, headers, account)
        if fault == "malformed":
            return self._respond(route, 200, fault_bodies.BODY_MALFORMED, headers, account)
        if fault in fault_bodies.COUNT_FAULTS:
            return self._respond(
                route,
                200,
                _dumps(envelope(fault_bodies.COUNT_RESULTS[fault])),
                headers,
                account,
            )
        return self._reply(route, fail(fault_bodies.IS_ERROR_MESSAGE), headers, account)

    # --- control API (/_sim) ---------------------------------------------------------------

    def _starlette_routes(self) -> list[Route]:
        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return [
            Route("/api-3/{path:path}", self.handle_api, methods=methods),
            Route("/awb/{action}", self.handle_root, methods=methods),
            Route("/_sim/health", self._control(self.c_health), methods=["GET"]),
            Route("/_sim/config", self._control(self.c_config), methods=["GET"]),
            Route("/_sim/accounts", self._control(self.c_accounts), methods=["GET"]),
            Route("/_sim/stats", self._control(self.c_stats), methods=["GET", "DELETE"]),
            Route("/_sim/faults", self._control(self.c_faults), methods=["GET", "POST"]),
            Route("/_sim/rate_limit", self._control(self.c_rate_limit), methods=["GET", "POST"]),
            Route("/_sim/reset", self._control(self.c_reset), methods=["POST"]),
            Route(
                "/_sim/accounts/{account}/orders/new",
                self._control(self.c_orders_new),
                methods=["POST"],
            ),
            Route(
                "/_sim/accounts/{account}/orders/modify",
                self._control(self.c_orders_modify),
                methods=["POST"],
            ),
            Route(
                "/_sim/accounts/{account}/callbacks",
                self._control(self.c_callbacks),
                methods=["GET", "POST"],
            ),
            Route("/_sim/callbacks", self._control(self.c_callbacks_all), methods=["GET", "POST"]),
            Route(
                "/_sim/accounts/{account}/orders/{order_id:int}",
                self._control(self.c_order),
                methods=["GET"],
            ),
            Route(
                "/_sim/accounts/{account}/orders/{order_id:int}/edit",
                self._control(self.c_order_edit),
                methods=["POST"],
            ),
            Route(
                "/_sim/accounts/{account}/offers/{offer_id:int}",
                self._control(self.c_offer),
                methods=["GET"],
            ),
            Route(
                "/_sim/accounts/{account}/offers/{offer_id:int}/approve-documentation",
                self._control(self.c_approve_documentation),
                methods=["POST"],
            ),
            Route(
                "/_sim/accounts/{account}/returns/{rma_id:int}/status",
                self._control(self.c_return_status),
                methods=["POST"],
            ),
            *pricing_routes.routes(self),  # commission estimate, competitors
        ]

    def _control(
        self, fn: Callable[[Request, Any], Awaitable[tuple[int, Any]] | tuple[int, Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body: Any = {}
            raw = await request.body()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    return Response(_dumps({"error": "invalid JSON"}), 400, media_type=JSON)
            try:
                result = fn(request, body)
                if asyncio.iscoroutine(result):
                    result = await result
                assert isinstance(result, tuple)
                status, payload = result
            except (ValueError, TypeError) as exc:
                status, payload = 400, {"error": str(exc)}
            return Response(_dumps(payload), status, media_type=JSON)

        return endpoint

    def _account_or_404(self, request: Request) -> AccountState | None:
        return self.state.account(request.path_params["account"])

    def c_health(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, {"ok": True}

    def c_config(self, request: Request, body: Any) -> tuple[int, Any]:
        out = json.loads(self.config.to_json())
        out["accounts"] = [asdict(a) for a in self.config.effective_accounts()]
        return 200, out

    def c_accounts(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, [
            {
                "name": a.name,
                "account_type": a.account_type,
                "username": a.username,
                "password": a.password,
                "offers": a.n_offers + len(a.extra_offer_ids),
                "orders": a.n_orders,
                "order_id_range": [a.order_base, a.order_base + a.n_orders - 1],
            }
            for a in self.state.accounts.values()
        ]

    def c_stats(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "DELETE":
            self.stats.reset()
            self.faults.reset_counts()
            self.limiter.reset()
        snapshot = self.stats.snapshot()
        snapshot["faults"] = dict(self.faults.counts)
        snapshot["rate_limit_enabled"] = self.rate_limit
        return 200, snapshot

    def c_faults(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "POST":
            if not isinstance(body, dict):
                raise ValueError("send an object of fault settings")
            base = FaultConfig() if body.pop("replace", False) else self.faults.config
            self.faults.configure(base.updated(body))
        return 200, asdict(self.faults.config)

    def c_rate_limit(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "POST":
            if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
                raise ValueError('send {"enabled": true|false}')
            self.rate_limit = body["enabled"]
            self.limiter.reset()
        return 200, {"enabled": self.rate_limit}

    def c_reset(self, request: Request, body: Any) -> tuple[int, Any]:
        self.reset()
        return 200, {"ok": True}

    def c_orders_new(self, request: Request, body: Any) -> tuple[int, Any]:
        acc = self._account_or_404(request)
        if acc is None:
            return 404, {"error": "unknown account"}
        count = int(body.get("count", 1)) if isinstance(body, dict) else 1
        if not 0 <= count <= 100_000:
            raise ValueError("count must be within 0..100000")
        order_type = body.get("type") if isinstance(body, dict) else None
        if order_type not in (None, 2, 3):
            raise ValueError("type must be 2 (FBE) or 3 (seller)")
        ids = acc.add_orders(count, time.time(), self.control_rng, order_type)
        return 200, {"created": ids}

    def c_orders_modify(self, request: Request, body: Any) -> tuple[int, Any]:
        acc = self._account_or_404(request)
        if acc is None:
            return 404, {"error": "unknown account"}
        count = int(body.get("count", 1)) if isinstance(body, dict) else 1
        if not 0 <= count <= 100_000:
            raise ValueError("count must be within 0..100000")
        return 200, {"modified": modify_orders(acc, count, time.time(), self.control_rng)}

    def c_callbacks(self, request: Request, body: Any) -> tuple[int, Any]:
        """An account's callback URLs, by kind (``POST``: replace them, as the seller does in
        eMAG's UI; ``{}`` removes them)."""
        acc = self._account_or_404(request)
        if acc is None:
            return 404, {"error": "unknown account"}
        if request.method == "POST":
            if not isinstance(body, dict):
                raise ValueError("send an object of callback URLs by kind")
            self.callbacks.configure(acc.name, body)
        return 200, self.callbacks.urls.get(acc.name, {})

    def c_callbacks_all(self, request: Request, body: Any) -> tuple[int, Any]:
        """What the callbacks did (``POST {"enabled": false}`` stops firing them: eMAG down)."""
        if request.method == "POST":
            if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
                raise ValueError('send {"enabled": true|false}')
            self.callbacks.enabled = body["enabled"]
        return 200, self.callbacks.snapshot()

    def c_order(self, request: Request, body: Any) -> tuple[int, Any]:
        acc = self._account_or_404(request)
        order = acc.get_order_by_id(request.path_params["order_id"]) if acc else None
        return (200, order) if order else (404, {"error": "not found"})

    def c_order_edit(self, request: Request, body: Any) -> tuple[int, Any]:
        """An eMAG-side edit of one order (:meth:`AccountState.edit_order`), e.g. between a
        client's read and its save."""
        acc = self._account_or_404(request)
        idx = acc.order_index(request.path_params["order_id"]) if acc else None
        if acc is None or idx is None:
            return 404, {"error": "not found"}
        if not isinstance(body, dict) or not body:
            raise ValueError("send an object of order fields to change")
        return 200, acc.edit_order(idx, body, time.time())

    def c_approve_documentation(self, request: Request, body: Any) -> tuple[int, Any]:
        """eMAG approves an offer's documentation (:meth:`AccountState.approve_documentation`):
        its validation status becomes 9 and the ``documentation`` callback fires."""
        acc = self._account_or_404(request)
        if acc is None:
            return 404, {"error": "not found"}
        try:
            return 200, acc.approve_documentation(request.path_params["offer_id"])
        except LookupError:
            return 404, {"error": "not found"}

    def c_return_status(self, request: Request, body: Any) -> tuple[int, Any]:
        """A return's new ``request_status`` (``{"request_status": N}``, within eMAG's matrix,
        :meth:`AccountState.set_rma_status`); the ``return`` callback fires."""
        acc = self._account_or_404(request)
        if acc is None:
            return 404, {"error": "not found"}
        if not isinstance(body, dict) or not isinstance(body.get("request_status"), int):
            raise ValueError('send {"request_status": N}')
        idx = request.path_params["rma_id"] - acc.rma_base
        try:
            return 200, acc.set_rma_status(idx, body["request_status"])
        except LookupError:
            return 404, {"error": "not found"}

    def c_offer(self, request: Request, body: Any) -> tuple[int, Any]:
        acc = self._account_or_404(request)
        offer = acc.get_offer(request.path_params["offer_id"]) if acc else None
        if acc is not None and offer is not None:
            offer = competition.view(acc, offer, time.time())
        return (200, offer) if offer else (404, {"error": "not found"})


# eMAG-side changes applied by ``orders/modify``; each is legal in eMAG's order status matrix
# (docs/emag-protocol.md, "Orders").
EMAG_TRANSITIONS = {1: 0, 2: 3, 3: 4, 4: 5}


def modify_orders(
    acc: AccountState, count: int, now: float, rng: random.Random
) -> list[dict[str, Any]]:
    """Change ``count`` recent orders as eMAG or the customer would: a new order is cancelled
    (1→0), in-progress orders move on (2→3, 3→4), a finalized one is returned (4→5); other
    statuses only get a new ``modified``. ``modified`` becomes ``now``. Orders are chosen among
    the most recent ones (at least 1000 or 20 x count) with the control RNG."""
    n = acc.n_orders
    if n == 0 or count == 0:
        return []
    window = min(n, max(1000, 20 * count))
    chosen = rng.sample(range(n - window, n), min(count, window))
    out = []
    for idx in sorted(chosen):
        order = acc.get_order(idx)
        before = int(order["status"])
        after = EMAG_TRANSITIONS.get(before, before)
        order = acc.set_order_status(idx, after, now)
        if after == 0 and before != 0:
            order["reason_cancellation"] = {"id": 2, "name": "Anulata de client"}
        if after == 4:
            order["finalization_date"] = order["modified"]
        if after == 5:
            order["refunded_amount"] = order["products"][0]["sale_price"]
        out.append({"id": order["id"], "from": before, "to": after, "type": order["type"]})
    return out


def create_app(config: SimConfig | None = None) -> Starlette:
    """An ASGI app for ``config`` (default :class:`SimConfig`); the :class:`Simulator` is at
    ``app.state.simulator``."""
    return Simulator(config or SimConfig()).app


__all__ = ["Simulator", "create_app", "envelope", "modify_orders"]
