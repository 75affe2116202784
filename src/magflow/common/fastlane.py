"""The fast lane: the hot read routes' common case, answered without FastAPI's per-request work.

Why (issue 18, BENCHMARKS.md "load"): on a 2-CPU machine the read API's capacity is its CPU per
request, and for a 50-row listing most of that CPU was the framework's, not the query's: routing
through some 250 routes, solving the route's dependency graph (about ten dependencies, each a
coroutine with its own parameter validation), re-validating the returned page against the response
model and a session generator per request.

:class:`FastLaneMiddleware` (pure ASGI) answers ``GET`` on the paths registered with a
:class:`FastRead` by doing the same work directly:

1. the bearer token and the query string are checked exactly as the route checks them: the query
   parameters are validated by a model built from the route's own parameters (same names,
   aliases, defaults and constraints: :func:`query_model`), the token and the user by
   :func:`magflow.auth.service.user_from_token`;
2. the route's own functions run (the :class:`FastRead` handler only wires them: it calls the
   route's dependencies and endpoint with the validated values) in a read-only session;
3. the result is serialized once by the response model's ``TypeAdapter``, as FastAPI writes it.

Anything but the common case goes to FastAPI unchanged: no token, a token or user that fails, a
role too low, a query the model refuses, a repeated parameter, text the request guard would
refuse, a CORS request, an unknown account or any other error the app answers itself (404, 422,
401, 403 keep FastAPI's exact shape, since FastAPI produces them). The fast lane never answers
differently from the route; ``tests/common/test_fastlane.py`` compares the two answer by answer.
``MAGFLOW_FAST_LANE=false`` turns it off.

It sits inside the admission control and the security headers (its answers count as in flight
and carry the same headers) and outside the request guard, which it does not need for a
``GET`` without a body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi._compat import field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from magflow.auth import service as auth_service
from magflow.auth.models import Role, User
from magflow.auth.tokens import InvalidTokenError
from magflow.common.errors import pool_timeout_response
from magflow.common.security import text_problem
from magflow.context import AppContext


@dataclass(frozen=True)
class FastCall:
    """What a :class:`FastRead` handler gets: the request, the app's context, a read-only
    session, the checked user and the route's query parameters, validated, by parameter name."""

    request: Request
    ctx: AppContext
    session: AsyncSession
    user: User
    params: dict[str, Any]


@dataclass(frozen=True)
class FastRead:
    """A ``GET`` route answered by the fast lane: its path and the handler that calls the
    route's own dependencies and endpoint (and returns what the endpoint returns)."""

    path: str
    handle: Callable[[FastCall], Awaitable[Any]]
    #: The least role the route lets through (its ``require_role`` dependency, if any).
    min_role: Role = Role.viewer


@dataclass
class _Bound:
    read: FastRead
    query: type[BaseModel]
    #: Query-string names (aliases) the route reads; those in ``repeatable`` are lists.
    names: frozenset[str]
    repeatable: frozenset[str]
    response: TypeAdapter[Any]
    #: Requests the fast lane answered itself.
    hits: int = 0


def query_model(route: APIRoute) -> tuple[type[BaseModel], frozenset[str], frozenset[str]]:
    """A model of the route's query parameters, its dependencies' included, built from the very
    ``FieldInfo`` FastAPI validates them with (type, alias, default, constraints); the names the
    query string uses for them; those of them that are lists (``?status=1&status=3``). Unknown
    parameters are ignored, as FastAPI does."""
    fields: dict[str, Any] = {}
    names: set[str] = set()
    repeatable: set[str] = set()
    for param in _query_params(route.dependant):
        info = param.field_info
        fields[param.name] = (info.annotation, info)
        names.add(param.alias)
        if field_annotation_is_sequence(info.annotation):
            repeatable.add(param.alias)
    model = create_model(  # type: ignore[call-overload]
        f"{route.name}_query",
        __config__=ConfigDict(extra="ignore", validate_by_alias=True, validate_by_name=False),
        **fields,
    )
    return model, frozenset(names), frozenset(repeatable)


def _query_params(dependant: Dependant) -> list[Any]:
    """The query parameters of a dependant and of its dependencies, each name once."""
    params = {param.name: param for param in dependant.query_params}
    for sub in dependant.dependencies:
        for param in _query_params(sub):
            params.setdefault(param.name, param)
    return list(params.values())


class FastLaneMiddleware:
    def __init__(self, app: ASGIApp, reads: Iterable[FastRead], routes: Iterable[Any]) -> None:
        """``routes``: the app's routes (those of its routers, which carry their full paths);
        each of ``reads`` is bound to the ``GET`` route of its path, the first one as routing
        would pick it."""
        self.app = app
        self._bound: dict[str, _Bound] = {}
        by_path = {read.path: read for read in reads}
        for route in routes:
            if not isinstance(route, APIRoute) or "GET" not in (route.methods or ()):
                continue
            read = by_path.get(route.path)
            if read is None or read.path in self._bound:
                continue
            model, names, repeatable = query_model(route)
            response = TypeAdapter(route.response_model if route.response_model else Any)
            self._bound[read.path] = _Bound(read, model, names, repeatable, response)
        missing = set(by_path) - set(self._bound)
        if missing:
            raise RuntimeError(f"fast reads without a GET route: {sorted(missing)}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            bound = self._bound.get(scope["path"])
            if bound is not None:
                try:
                    body = await self._answer(bound, scope)
                except PoolTimeoutError:
                    await pool_timeout_response()(scope, receive, send)
                    return
                if body is not None:
                    await _send_json(send, 200, body)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, bound: _Bound, scope: Scope) -> bytes | None:
        """The response body, or None to let FastAPI answer."""
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and credentials:
                    token = credentials
            elif name == b"origin":
                return None  # CORS: the CORS middleware's answer
        if token is None:
            return None
        params = self._params(bound, scope["query_string"])
        if params is None:
            return None
        app = scope["app"]
        ctx: AppContext = app.state.ctx
        try:
            async with ctx.db.read_session() as session:
                try:
                    user = await auth_service.user_from_token(
                        session, ctx.tokens, token, "access", readers=ctx.readers
                    )
                except InvalidTokenError:
                    return None
                if Role(user.role).rank < bound.read.min_role.rank:
                    return None
                call = FastCall(Request(scope), ctx, session, user, params)
                result = await bound.read.handle(call)
        except HTTPException:
            return None
        except Exception as exc:
            # An error the app answers itself (an unknown account: 404, an ambiguous zone:
            # 422...): FastAPI answers it, in its shape. Any other error is a failure.
            if isinstance(exc, PoolTimeoutError) or not _handled(app, exc):
                raise
            return None
        bound.hits += 1
        return bound.response.dump_json(result, by_alias=True)

    @staticmethod
    def _params(bound: _Bound, query_string: bytes) -> dict[str, Any] | None:
        """The validated parameters, or None: a value the model refuses, a parameter given twice
        that is not a list, or text the request guard refuses (``common/security.py``)."""
        raw: dict[str, Any] = {}
        if query_string:
            pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
            for key, value in pairs:
                if text_problem(value) or text_problem(key):
                    return None
                if key not in bound.names:
                    continue
                if key in bound.repeatable:
                    raw.setdefault(key, []).append(value)
                elif key in raw:
                    return None
                else:
                    raw[key] = value
        try:
            model = bound.query.model_validate(raw)
        except ValidationError:
            return None
        return dict(model)


def _handled(app: Any, exc: Exception) -> bool:
    return any(
        isinstance(key, type) and key is not Exception and isinstance(exc, key)
        for key in app.exception_handlers
    )


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
