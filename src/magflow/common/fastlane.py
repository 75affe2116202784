"""The fast lane: the hot read routes' common case, answered without FastAPI's per-request work.

Why (issue 18, BENCHMARKS.md "load"): on a 2-CPU machine the read API's capacity is its CPU per
request, and for a 50-row listing most of that CPU was the framework's, not the query's: routing
through some 250 routes, solving the route's dependency graph (about ten dependencies, each a
coroutine with its own parameter validation), re-validating the returned page against the response
model and a session generator per request.

:class:`FastLaneMiddleware` (pure ASGI) answers ``GET`` on the paths it is given by doing the same
work directly, planned once per route from the route's own dependency graph (:func:`_plan`):

1. the query string is validated by a model built from the route's own query parameters (same
   names, aliases, defaults and constraints: :class:`_Plan`), the bearer token and the user by
   :func:`magflow.auth.service.user_from_token`, as :func:`magflow.auth.dependencies.current_user`
   checks them;
2. the route's own dependencies and endpoint are called with those values, in a read-only session
   (the route must be :func:`~magflow.common.deps.read_only`): the app's context, the session and
   the user are provided here, every other dependency (an account lookup, the filters, a role
   check) is called as FastAPI would call it;
3. the result is serialized once by the response model's ``TypeAdapter``, as FastAPI writes it
   (and once per value: the same kept value returned again gets the same body); a listing's
   page comes already written (``common.schemas.page_of``) and is sent as it is.

Anything but the common case goes to FastAPI unchanged: no token, a token or user that fails, a
role too low, a query the model refuses, a repeated parameter, text the request guard would
refuse, a CORS request, an unknown account or any other error the app answers itself (404, 422,
401, 403 keep FastAPI's exact shape, since FastAPI produces them). The fast lane never answers
differently from the route; ``tests/common/test_fastlane.py`` compares the two answer by answer.
``MAGFLOW_FAST_LANE=false`` turns it off. A route whose dependencies need more than a query
string and a request (a header, a body, a generator of their own) is refused when the app is
built.

It sits inside the admission control and the security headers (its answers count as in flight
and carry the same headers) and outside the request guard, which it does not need for a
``GET`` without a body.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi._compat import field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from magflow.auth import service as auth_service
from magflow.auth.dependencies import current_user
from magflow.auth.tokens import InvalidTokenError
from magflow.common.deps import context_dependency, get_session, is_read_only
from magflow.common.errors import pool_timeout_response
from magflow.common.schemas import PageJson
from magflow.common.security import text_problem
from magflow.context import AppContext

#: The dependencies the fast lane provides itself (what FastAPI would call → what it provides).
PROVIDED: dict[Callable[..., Any], str] = {
    context_dependency: "ctx",
    get_session: "session",
    current_user: "user",
}


@dataclass(frozen=True)
class _Step:
    """One dependency (or the endpoint) to call: each argument is a query parameter, the
    request, a provided value or the result of another step."""

    call: Callable[..., Any]
    is_coroutine: bool
    #: (argument, "query" | "request" | "provided" | "step", what)
    arguments: tuple[tuple[str, str, Any], ...]
    #: Called once per request however many steps use it, as FastAPI caches a dependency.
    cached: bool


@dataclass
class _Plan:
    endpoint: _Step
    query: type[BaseModel]
    #: Query-string names (aliases) the route reads; those in ``repeatable`` are lists.
    names: frozenset[str]
    repeatable: frozenset[str]
    response: TypeAdapter[Any]
    #: Requests the fast lane answered itself.
    hits: int = 0
    #: Validated parameters by query string (see :meth:`FastLaneMiddleware._params`).
    known_queries: dict[bytes, dict[str, Any] | None] = field(default_factory=dict)
    #: The last answer and its body: a route that returns a value kept for every caller (the
    #: status, from ``Cache.near``, which no caller may change) is serialized once per value.
    last_answer: tuple[Any, bytes] | None = None


@dataclass
class _Collected:
    fields: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


def _step(dependant: Dependant, collected: _Collected) -> _Step:
    """The call plan of ``dependant``, collecting its query parameters' fields on the way."""
    call = dependant.call
    unsupported = (
        dependant.path_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    )
    generator = inspect.isasyncgenfunction(call) or inspect.isgeneratorfunction(call)
    if call is None or unsupported or generator:
        raise RuntimeError(f"the fast lane cannot call {call!r}: it needs more than a query")
    arguments: list[tuple[str, str, Any]] = []
    for param in dependant.query_params:
        if collected.aliases.setdefault(param.name, param.alias) != param.alias:
            raise RuntimeError(f"query parameter {param.name!r} has two aliases")
        if param.field_info.default_factory is not None:
            # Its validated value could differ from one request to the next: it cannot be kept.
            raise RuntimeError(f"query parameter {param.name!r} has a default factory")
        collected.fields[param.name] = (param.field_info.annotation, param.field_info)
        arguments.append((param.name, "query", param.name))
    if dependant.request_param_name:
        arguments.append((dependant.request_param_name, "request", None))
    for sub in dependant.dependencies:
        assert sub.name is not None
        provided = PROVIDED.get(sub.call) if sub.call is not None else None
        if provided is not None:
            arguments.append((sub.name, "provided", provided))
        else:
            arguments.append((sub.name, "step", _step(sub, collected)))
    return _Step(call, inspect.iscoroutinefunction(call), tuple(arguments), dependant.use_cache)


def _plan(route: APIRoute) -> _Plan:
    if not is_read_only(route.endpoint):
        raise RuntimeError(f"{route.path}: the fast lane answers read-only routes only")
    collected = _Collected()
    endpoint = _step(route.dependant, collected)
    # Unknown parameters are ignored, as FastAPI does.
    query = create_model(  # type: ignore[call-overload]
        f"{route.name}_query",
        __config__=ConfigDict(extra="ignore", validate_by_alias=True, validate_by_name=False),
        **collected.fields,
    )
    repeatable = frozenset(
        collected.aliases[name]
        for name, (annotation, _) in collected.fields.items()
        if field_annotation_is_sequence(annotation)
    )
    response = TypeAdapter(route.response_model if route.response_model else Any)
    return _Plan(endpoint, query, frozenset(collected.aliases.values()), repeatable, response)


@dataclass
class _Call:
    """One request's values: the validated query parameters, the request, the provided values
    and the results of the cached steps already run."""

    params: dict[str, Any]
    request: Request
    provided: dict[str, Any]
    results: dict[Callable[..., Any], Any] = field(default_factory=dict)

    async def run(self, step: _Step) -> Any:
        if step.cached and step.call in self.results:
            return self.results[step.call]
        kwargs: dict[str, Any] = {}
        for argument, kind, what in step.arguments:
            if kind == "query":
                kwargs[argument] = self.params[what]
            elif kind == "request":
                kwargs[argument] = self.request
            elif kind == "provided":
                kwargs[argument] = self.provided[what]
            else:
                kwargs[argument] = await self.run(what)
        result = step.call(**kwargs)
        if step.is_coroutine:
            result = await result
        if step.cached:
            self.results[step.call] = result
        return result


#: Query strings whose validation each route keeps (all forgotten when that many are kept): a
#: screen polls the same few, and validating one costs as much as a page's SQL round trip. Only
#: short ones: at most QUERIES_KEPT x QUERY_KEPT_BYTES per route, whatever a client sends.
QUERIES_KEPT = 256
QUERY_KEPT_BYTES = 512


class FastLaneMiddleware:
    def __init__(self, app: ASGIApp, paths: Iterable[str], routes: Iterable[Any]) -> None:
        """``routes``: the app's routes (those of its routers, which carry their full paths);
        each of ``paths`` is bound to its ``GET`` route, the first one as routing would pick
        it."""
        self.app = app
        wanted = set(paths)
        self._plans: dict[str, _Plan] = {}
        for route in routes:
            if (
                isinstance(route, APIRoute)
                and "GET" in (route.methods or ())
                and route.path in wanted
                and route.path not in self._plans
            ):
                self._plans[route.path] = _plan(route)
        missing = wanted - set(self._plans)
        if missing:
            raise RuntimeError(f"fast reads without a GET route: {sorted(missing)}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            plan = self._plans.get(scope["path"])
            if plan is not None:
                try:
                    body = await self._answer(plan, scope)
                except PoolTimeoutError:
                    await pool_timeout_response()(scope, receive, send)
                    return
                if body is not None:
                    await _send_json(send, 200, body)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, plan: _Plan, scope: Scope) -> bytes | None:
        """The response body, or None to let FastAPI answer."""
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, credentials = get_authorization_scheme_param(value.decode("latin-1"))
                if scheme.lower() == "bearer" and credentials:
                    token = credentials
            elif name == b"origin":
                return None  # CORS: the CORS middleware's answer
        if token is None:
            return None
        params = self._params(plan, scope["query_string"])
        if params is None:
            return None
        app = scope["app"]
        ctx: AppContext = app.state.ctx
        try:
            async with ctx.db.read_session() as session:
                user = await auth_service.user_from_token(
                    session, ctx.tokens, token, "access", readers=ctx.readers
                )
                provided = {"ctx": ctx, "session": session, "user": user}
                result = await _Call(params, Request(scope), provided).run(plan.endpoint)
        except (InvalidTokenError, HTTPException):
            return None
        except Exception as exc:
            # An error the app answers itself (an unknown account: 404, an ambiguous zone:
            # 422...): FastAPI answers it, in its shape. Any other error is a failure.
            if isinstance(exc, PoolTimeoutError) or not _handled(app, exc):
                raise
            return None
        plan.hits += 1
        if result.__class__ is PageJson:
            return bytes(result.body)
        last = plan.last_answer
        if last is not None and last[0] is result:
            return last[1]
        body = plan.response.dump_json(result, by_alias=True)
        plan.last_answer = (result, body)
        return body

    @staticmethod
    def _params(plan: _Plan, query_string: bytes) -> dict[str, Any] | None:
        """The validated parameters, or None: a value the model refuses, a parameter given twice
        that is not a list, or text the request guard refuses (``common/security.py``).

        Kept per query string (:data:`QUERIES_KEPT`): the same text always validates the same
        way. Each request gets its own copy, lists included."""
        known = plan.known_queries.get(query_string, _UNKNOWN)
        if known is _UNKNOWN:
            known = FastLaneMiddleware._validate(plan, query_string)
            if len(query_string) <= QUERY_KEPT_BYTES:
                if len(plan.known_queries) >= QUERIES_KEPT:
                    plan.known_queries.clear()
                plan.known_queries[query_string] = known
        if known is None:
            return None
        return {k: list(v) if isinstance(v, list) else v for k, v in known.items()}

    @staticmethod
    def _validate(plan: _Plan, query_string: bytes) -> dict[str, Any] | None:
        raw: dict[str, Any] = {}
        if query_string:
            pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
            for key, value in pairs:
                if text_problem(value) or text_problem(key):
                    return None
                if key not in plan.names:
                    continue
                if key in plan.repeatable:
                    raw.setdefault(key, []).append(value)
                elif key in raw:
                    return None
                else:
                    raw[key] = value
        try:
            model = plan.query.model_validate(raw)
        except ValidationError:
            return None
        return dict(model)


_UNKNOWN: Any = object()


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
