"""The fast lane (``common/fastlane.py``) answers exactly as the routes do.

Two servers on the same database and cache, one with the fast lane and one without
(``MAGFLOW_FAST_LANE=false``), asked the same questions after a real sync against the simulator:
the answers must be the same, and the fast one must have answered the common cases itself (its
counters say so), while everything else (no token, a bad parameter, an unknown account, a
repeated parameter, a NUL) is FastAPI's answer on both."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query

from magflow.app import create_app
from magflow.auth.models import Role
from magflow.common.deps import read_only
from magflow.common.fastlane import FastLaneMiddleware
from magflow.context import AppContext
from magflow.settings import Settings
from magflow.sync.models import SyncKind
from tests.factories import make_user
from tests.support.auth import auth_headers
from tests.support.servers import UvicornThread
from tests.support.simulation import Accounts, sync

#: Common cases: each answered by the fast lane (200).
ANSWERED = {
    "/api/v1/emag/offers": [
        "",
        "limit=5",
        "search=a&limit=20",
        "status=1",
        "in_stock=true&sort=sale_price&order=desc",
        "account=main",
        "include_missing=true&skip=3&limit=7",
        "unknown=ignored&limit=3",
    ],
    "/api/v1/emag/orders": [
        "",
        "status=1&limit=20",
        "status=1&status=4",
        "type=3&sort=total&order=asc",
        "date_from=2020-01-01T00:00:00Z&limit=10",
        "date_from=2026-01-01&date_to=2026-12-31",  # the accounts' platform time
        "account=fbe",
        "search=a",
        "skip=250&limit=20",
    ],
    "/api/v1/admin/emag-customers": [
        "",
        "with_summary=false",
        "tier=gold&tier=silver&tier=bronze",
        "sort=loyalty&order=asc",
        "account=main&limit=5",
        "search=a",
    ],
    "/api/v1/emag/sync-logs": ["", "kind=offers", "status=completed", "account=main&limit=1"],
    "/api/v1/emag/enhanced/status": ["", "account_type=main"],
    "/api/v1/emag/enhanced/products/sync-progress": [""],
}

#: Everything else: FastAPI's answer, whichever server is asked.
PASSED_ON = [
    ("/api/v1/emag/offers", "limit=0", 422),
    ("/api/v1/emag/offers", "sort=nope", 422),
    ("/api/v1/emag/offers", "account=no-such-account", 404),
    ("/api/v1/emag/offers", "search=a%00b", 422),
    ("/api/v1/emag/orders", "status=abc", 422),
    ("/api/v1/emag/orders", "limit=2&limit=3", 200),
    ("/api/v1/admin/emag-customers", "loyalty_min=101", 422),
    ("/api/v1/emag/sync-logs", "kind=nope", 422),
    ("/api/v1/emag/enhanced/status", "account_type=nope", 422),
]


def _fast_lane(app: FastAPI) -> FastLaneMiddleware:
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, FastLaneMiddleware):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, FastLaneMiddleware), "no fast lane in the app"
    return layer


def _answered(app: FastAPI) -> int:
    return sum(plan.hits for plan in _fast_lane(app)._plans.values())


#: What changes with the instant an answer is computed at: each server computes its own status
#: and summary when the cache is per process (SQLite), at its own instant.
TIMES = {"generated_at", "age_seconds"}


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


@pytest.fixture
def servers(settings: Settings) -> Iterator[tuple[FastAPI, str, str]]:
    fast_app = create_app(settings)
    slow_app = create_app(settings.model_copy(update={"fast_lane": False}))
    with UvicornThread(fast_app) as fast, UvicornThread(slow_app) as slow:
        yield fast_app, fast.url, slow.url


@pytest.mark.parametrize("role", [Role.admin, Role.viewer])
async def test_the_fast_lane_answers_as_the_routes_do(
    ctx: AppContext, accounts: Accounts, servers: tuple[FastAPI, str, str], role: Role
) -> None:
    for account in (accounts.main, accounts.fbe):
        await sync(ctx, account, SyncKind.offers)
        await sync(ctx, account, SyncKind.orders)
    user = await make_user(ctx, role=role)
    fast_app, fast_url, slow_url = servers
    async with (
        httpx.AsyncClient(base_url=fast_url, timeout=30) as fast,
        httpx.AsyncClient(base_url=slow_url, timeout=30) as slow,
    ):
        headers = await auth_headers(slow, user.email)
        assert "Authorization" in headers
        for path, queries in ANSWERED.items():
            for query in queries:
                url = f"{path}?{query}" if query else path
                before = _answered(fast_app)
                expected = await slow.get(url, headers=headers)
                got = await fast.get(url, headers=headers)
                # Asked again: its parameters' validation is kept, its session reused.
                again = await fast.get(url, headers=headers)
                assert expected.status_code == 200, (url, expected.text)
                assert got.status_code == again.status_code == 200, (url, got.text)
                assert _without_times(got.json()) == _without_times(expected.json()), url
                assert _without_times(again.json()) == _without_times(expected.json()), url
                assert got.headers["content-type"] == "application/json"
                assert got.headers["x-content-type-options"] == "nosniff"
                assert _answered(fast_app) == before + 2, f"{url}: not answered by the fast lane"

        for path, query, status in PASSED_ON:
            url = f"{path}?{query}"
            before = _answered(fast_app)
            expected = await slow.get(url, headers=headers)
            for _ in range(2):  # a refused query string is kept refused
                got = await fast.get(url, headers=headers)
                assert (got.status_code, got.json()) == (expected.status_code, expected.json())
                assert got.status_code == status, (url, got.text)
            assert _answered(fast_app) == before, f"{url}: the fast lane answered"

        for path in ANSWERED:
            before = _answered(fast_app)
            for bad in ({}, {"Authorization": "Bearer not-a-token"}):
                expected = await slow.get(path, headers=bad)
                got = await fast.get(path, headers=bad)
                assert got.status_code == expected.status_code == 401, path
                assert got.json() == expected.json()
            assert _answered(fast_app) == before

    # One request at a time: the read sessions were given back (and, on PostgreSQL, one is kept
    # for the next request; tests/db/test_engine.py).
    idle, in_use = fast_app.state.ctx.db.kept_reads()
    assert in_use == 0
    assert idle == (1 if fast_app.state.ctx.db.engine.dialect.name == "postgresql" else 0)


async def test_the_fast_lane_refuses_a_disabled_user_as_the_routes_do(
    ctx: AppContext, servers: tuple[FastAPI, str, str]
) -> None:
    user = await make_user(ctx)
    fast_app, fast_url, _ = servers
    async with httpx.AsyncClient(base_url=fast_url, timeout=30) as fast:
        headers = await auth_headers(fast, user.email)
        assert (await fast.get("/api/v1/emag/sync-logs", headers=headers)).status_code == 200
        async with ctx.db.session() as session:
            row = await session.get(type(user), user.id)
            assert row is not None
            row.is_active = False
            await session.commit()
        refused = await fast.get("/api/v1/emag/sync-logs", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "user is unknown or disabled"
    # The fast lane read the user, then let FastAPI answer: its read session was given back,
    # and no connection is out of the pool but the kept ones (tests/db/test_engine.py).
    idle, in_use = fast_app.state.ctx.db.kept_reads()
    assert in_use == 0
    assert fast_app.state.ctx.db.engine.sync_engine.pool.checkedout() == idle


def test_every_fast_read_has_its_route_and_only_reads() -> None:
    """A path no ``GET`` route has, or a route that is not read-only (the fast lane runs it in
    a session without a transaction), is refused when the app is built."""
    from magflow.app import ROUTERS
    from magflow.auth.routes import router as auth_router

    routes = [route for router in ROUTERS for route in router.routes]
    with pytest.raises(RuntimeError, match="without a GET route"):
        FastLaneMiddleware(app=None, paths=["/api/v1/nowhere"], routes=routes)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="read-only routes only"):
        FastLaneMiddleware(app=None, paths=[auth_router.prefix + "/me"], routes=routes)  # type: ignore[arg-type]


def test_a_query_parameter_with_a_default_factory_is_refused() -> None:
    """Validated parameters are kept per query string: a default computed per request (a
    time, a new list) would be kept too, so such a route is refused when the app is built."""
    router = APIRouter()

    @router.get("/made-each-time")
    @read_only
    async def made_each_time(
        at: Annotated[datetime, Query(default_factory=lambda: datetime.now(UTC))],
    ) -> str:
        return at.isoformat()

    with pytest.raises(RuntimeError, match="'at' has a default factory"):
        FastLaneMiddleware(app=None, paths=["/made-each-time"], routes=router.routes)  # type: ignore[arg-type]


class CountingAdapter:
    """A response adapter that counts its serializations (and delegates them)."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self.dumps = 0

    def dump_json(self, value: Any, **kwargs: Any) -> bytes:
        self.dumps += 1
        return bytes(self.adapter.dump_json(value, **kwargs))


async def test_a_value_kept_for_every_caller_is_serialized_once(
    ctx: AppContext, servers: tuple[FastAPI, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The status comes from a cache that hands every caller the same value: the fast lane
    writes it once and answers the same body until the value changes."""
    from magflow.status import service

    user = await make_user(ctx)
    fast_app, fast_url, slow_url = servers
    async with (
        httpx.AsyncClient(base_url=fast_url, timeout=30) as fast,
        httpx.AsyncClient(base_url=slow_url, timeout=30) as slow,
    ):
        headers = await auth_headers(slow, user.email)
        path = "/api/v1/emag/enhanced/status"
        kept = (await slow.get(path, headers=headers)).json()
        changed = {**kept, "schedules_enabled": not kept["schedules_enabled"]}
        first = service.EnhancedStatus.model_validate(kept)
        second = service.EnhancedStatus.model_validate(changed)
        values = iter([first, first, first, second, second])

        async def cached_status(*_args: Any) -> Any:
            return next(values)

        monkeypatch.setattr(service, "cached_status", cached_status)
        plan = _fast_lane(fast_app)._plans[path]
        counting = CountingAdapter(plan.response)
        monkeypatch.setattr(plan, "response", counting)
        bodies = [(await fast.get(path, headers=headers)).json() for _ in range(5)]
    assert counting.dumps == 2  # one per value
    assert bodies[:3] == [kept] * 3
    assert bodies[3:] == [changed] * 2


def test_kept_query_validations_are_bounded() -> None:
    """A client sending ever new query strings cannot grow the kept validations: at most
    QUERIES_KEPT per route, each of at most QUERY_KEPT_BYTES (longer ones are validated each
    time and not kept)."""
    from magflow.app import ROUTERS
    from magflow.common import fastlane

    routes = [route for router in ROUTERS for route in router.routes]
    lane = FastLaneMiddleware(app=None, paths=["/api/v1/emag/offers"], routes=routes)  # type: ignore[arg-type]
    plan = lane._plans["/api/v1/emag/offers"]
    long_query = b"limit=5&ignored=" + b"a" * fastlane.QUERY_KEPT_BYTES
    params = lane._params(plan, long_query)
    assert params is not None and params["limit"] == 5
    assert long_query not in plan.known_queries
    for skip in range(fastlane.QUERIES_KEPT + 10):
        assert lane._params(plan, b"skip=%d" % skip) is not None
    assert 0 < len(plan.known_queries) <= fastlane.QUERIES_KEPT
    assert lane._params(plan, b"limit=0") is None  # refused, and kept refused
    assert plan.known_queries[b"limit=0"] is None
