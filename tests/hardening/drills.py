"""Building requests for any operation of the route table, and checking the answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from tests.hardening.conftest import Seed, Stack
from tests.hardening.inventory import Operation, example

MISSING: Any = object()
UPLOAD = ("offers.csv", b"offer_id,stock\n1,2\n", "text/csv")


def path_of(op: Operation, seed: Seed, **overrides: Any) -> str:
    values = {**seed.path_values(), **overrides}
    path = op.path
    for param in op.param("path"):
        path = path.replace("{" + param.name + "}", quote(str(values[param.name]), safe=""))
    return path


def example_body(op: Operation) -> Any:
    if op.body_schema is None:
        return None
    return example(op.body_schema)


def send(
    stack: Stack,
    op: Operation,
    *,
    role: str | None = "admin",
    token: str | None = None,
    path: dict[str, Any] | None = None,
    params: Any = None,
    body: Any = MISSING,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """``op`` as ``role`` (or with ``token``), its path filled from the seed, with an example
    body unless ``body`` is given. JSON bodies are sent as JSON, forms as forms; the bulk upload
    gets a small CSV file. Redirects are not followed."""
    url = path_of(op, stack.seed, **(path or {}))
    if body is MISSING:
        body = example_body(op)
    kwargs: dict[str, Any] = {
        "params": params,
        "headers": {**stack.auth(role, token), **(headers or {})},
        "follow_redirects": False,
    }
    if op.body_type == "application/json":
        kwargs["json"] = body
    elif op.body_type == "application/x-www-form-urlencoded":
        kwargs["data"] = body
    elif op.body_type == "multipart/form-data":
        fields = dict(body or {})
        fields.pop("file", None)
        kwargs["data"] = fields
        kwargs["files"] = {"file": UPLOAD}
    return stack.http.request(op.method, url, **kwargs)


def detail_text(response: httpx.Response) -> str:
    """The answer's message(s), flattened: FastAPI's ``detail`` (string, object or list)."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(x) for x in d.get('loc', []))}: {d.get('msg')}"
            if isinstance(d, dict)
            else str(d)
            for d in detail
        )
    return str(detail)


def error_locations(response: httpx.Response) -> list[tuple[Any, ...]]:
    """The ``loc`` of each validation error of a 422."""
    detail = response.json().get("detail")
    if not isinstance(detail, list):
        return []
    return [tuple(d.get("loc", ())) for d in detail if isinstance(d, dict)]


def describe(response: httpx.Response) -> str:
    return (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        + (response.text[:300])
    )
