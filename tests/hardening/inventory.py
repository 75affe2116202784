"""The route table as the drills see it: every HTTP operation and WebSocket of the app.

Built from ``magflow.app.ROUTERS`` (the route table: see tests/test_routes.py) through FastAPI's
own OpenAPI generator, with the dashboard's routes (hidden from ``/openapi.json``)
included: each operation comes with its parameters and its body's JSON schema, from which the
drills derive valid examples and wrong-typed values. A route added tomorrow is drilled tomorrow.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, APIWebSocketRoute

CHECKED_FORMATS = frozenset({"date-time", "date", "uri", "email", "uuid"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/refresh"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("POST", "/logout"),  # the dashboard's: clears the cookies, signed in or not
        ("GET", "/favicon.ico"),  # the dashboard's icon, a static file like /static
        ("GET", "/callbacks/emag/{secret}/{kind}"),  # eMAG's callbacks: the secret is the key
        ("GET", "/invoices/files/{token}.pdf"),  # invoice PDFs eMAG downloads: the token is the key
    }
)


@dataclass(frozen=True)
class Param:
    name: str
    location: str  # path | query | header | cookie
    schema: dict[str, Any]
    required: bool


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    dashboard: bool
    params: tuple[Param, ...] = ()
    # The path as routed, with Starlette's convertors ("{customer_id:int}"), which make a
    # wrongly typed value a 404 (no route matches) rather than a 422.
    route_path: str = ""
    body_type: str | None = None  # application/json | application/x-www-form-urlencoded | ...
    body_schema: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def writes(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def public(self) -> bool:
        return (self.method, self.path) in PUBLIC

    def param(self, location: str) -> list[Param]:
        return [p for p in self.params if p.location == location]

    def body_properties(self) -> dict[str, dict[str, Any]]:
        return dict((self.body_schema or {}).get("properties", {}))


def _resolver(components: dict[str, Any]) -> Any:
    def resolve(schema: Any) -> Any:
        if isinstance(schema, dict):
            if "$ref" in schema:
                name = schema["$ref"].rsplit("/", 1)[-1]
                return resolve(components[name])
            return {key: resolve(value) for key, value in schema.items()}
        if isinstance(schema, list):
            return [resolve(item) for item in schema]
        return schema

    return resolve


@cache
def inventory() -> tuple[tuple[Operation, ...], tuple[str, ...]]:
    """Every HTTP operation (API and dashboard) and every WebSocket path."""
    from magflow.app import ROUTERS
    from magflow.web.routes import router as web_router

    dashboard_paths = {route.path for route in web_router.routes if isinstance(route, APIRoute)}
    routes = []
    websockets = []
    routed: dict[str, str] = {}
    for route in (route for router in ROUTERS for route in router.routes):
        if isinstance(route, APIRoute):
            visible = copy.copy(route)
            visible.include_in_schema = True
            routes.append(visible)
            routed[re.sub(r":[a-z]+\}", "}", route.path)] = route.path
        elif isinstance(route, APIWebSocketRoute):
            websockets.append(route.path)
    schema = get_openapi(title="inventory", version="0", routes=routes)
    resolve = _resolver(schema.get("components", {}).get("schemas", {}))
    operations = []
    for path, methods in schema["paths"].items():
        for method, spec in methods.items():
            params = tuple(
                Param(p["name"], p["in"], resolve(p.get("schema", {})), p.get("required", False))
                for p in spec.get("parameters", [])
            )
            content = spec.get("requestBody", {}).get("content", {})
            body_type = next(iter(content), None)
            body_schema = resolve(content[body_type]["schema"]) if body_type else None
            operations.append(
                Operation(
                    method.upper(),
                    path,
                    path in dashboard_paths,
                    params,
                    routed.get(path, path),
                    body_type,
                    body_schema,
                )
            )
    return tuple(operations), tuple(websockets)


def operations() -> tuple[Operation, ...]:
    return inventory()[0]


def websocket_paths() -> tuple[str, ...]:
    return inventory()[1]


# --- values -------------------------------------------------------------------------------------


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return [o for option in options for o in _options(option)]
    return [schema]


def types_of(schema: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for option in _options(schema):
        kind = option.get("type")
        if "enum" in option or "const" in option:
            found.add("enum")
        elif isinstance(kind, list):
            found.update(kind)
        elif kind:
            found.add(kind)
        elif "properties" in option or "additionalProperties" in option:
            found.add("object")
        else:
            found.add("any")
    return found


def example(schema: dict[str, Any]) -> Any:
    """A value that the schema accepts (required members only)."""
    options = [o for o in _options(schema) if o.get("type") != "null"]
    schema = options[0] if options else schema
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: example(properties[name]) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}))] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
    if kind == "number":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        if fmt in ("uri", "url"):
            return "https://example.com/invoice.pdf"
        if fmt == "binary":
            return "binary"
        alternatives = re.fullmatch(r"\^\(([^()]*)\)\$", schema.get("pattern", ""))
        if alternatives:
            return alternatives.group(1).split("|")[0]
        return "x" * max(1, schema.get("minLength", 1))
    return "x"


# Candidates for a wrong type, tried in order: the first one the schema cannot accept.
_WRONG_BODY_VALUES: list[tuple[str, Any]] = [
    ("object", {"wrong": "type"}),
    ("string", "not-a-number-nor-a-list"),
    ("array", ["wrong", "type"]),
]


def wrong_body_value(schema: dict[str, Any]) -> Any | None:
    """A JSON value of a type the schema refuses, or None when it takes anything."""
    kinds = types_of(schema)
    if "any" in kinds:
        return None
    if "enum" in kinds:
        kinds.add("string" if _enum_of_strings(schema) else "enum")
    for kind, value in _WRONG_BODY_VALUES:
        if kind not in kinds:
            return value
    return None


def _enum_of_strings(schema: dict[str, Any]) -> bool:
    return any(isinstance(v, str) for o in _options(schema) for v in o.get("enum", []))


def wrong_text_value(schema: dict[str, Any]) -> str | None:
    """A query/path/form text that the schema refuses, or None when any text is valid."""
    kinds = types_of(schema) - {"null"}
    if kinds == {"array"}:
        items = next(o for o in _options(schema) if o.get("type") == "array").get("items", {})
        return wrong_text_value(items)
    strings = [o for o in _options(schema) if o.get("type") == "string"]
    if "string" in kinds and not any(
        o.get("pattern") or o.get("format") in CHECKED_FORMATS for o in strings
    ):
        longest = max((o.get("maxLength", 0) for o in strings), default=0)
        return "x" * (longest + 1) if longest and longest < 10_000 else None
    if kinds & {"integer", "number"}:
        return "not-a-number"
    if kinds == {"boolean"}:
        return "maybe-not"
    if "enum" in kinds:
        return "not-one-of-the-options"
    if "string" in kinds:
        return "not a valid value: ~!@"
    return None


def is_free_text(schema: dict[str, Any]) -> bool:
    """A string parameter that takes any text (up to a length): a search, a name, a filter."""
    strings = [o for o in _options(schema) if o.get("type") == "string"]
    return (
        types_of(schema) - {"null"} == {"string"}
        and bool(strings)
        and not any(o.get("pattern") or o.get("format") in CHECKED_FORMATS for o in strings)
    )
