"""Text no column can hold, in every body field and path of every route: 422 naming the field.

A NUL character is refused by PostgreSQL in text and JSON columns (psycopg raises before the
query is even sent), and an unpaired UTF-16 surrogate (``"\\ud800"`` in JSON) cannot be encoded
for either database. Both used to be 500s on PostgreSQL wherever a string reached a query (an
account name, an email, a bulk item stored as JSON); they are now refused up front, the same way
on both backends (the query-string case is in test_search_inputs).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from magflow.common.security import NUL_MESSAGE, SURROGATE_MESSAGE
from tests.hardening.conftest import Stack
from tests.hardening.drills import describe, error_locations, example_body, path_of, send
from tests.hardening.inventory import Operation, operations

BAD_TEXT = {"a\x00b": NUL_MESSAGE, "\ud800": SURROGATE_MESSAGE, "ok\udfff": SURROGATE_MESSAGE}
JSON_OPS = [op for op in operations() if op.body_type == "application/json"]
FORM_OPS = [op for op in operations() if op.body_type == "application/x-www-form-urlencoded"]


def _refused(response: Any, loc: tuple[Any, ...], message: str) -> bool:
    if response.status_code != 422:
        return False
    return any(
        tuple(e.get("loc", ())) == loc and e.get("msg") == message
        for e in response.json()["detail"]
        if isinstance(e, dict)
    )


def test_every_body_route_is_drilled() -> None:
    assert len(JSON_OPS) >= 10 and len(FORM_OPS) >= 10


@pytest.mark.parametrize("op", JSON_OPS, ids=lambda op: op.id)
def test_nul_and_surrogates_in_json_are_422(stack: Stack, op: Operation) -> None:
    base = example_body(op)
    url = path_of(op, stack.seed)
    headers = {**stack.auth("admin"), "Content-Type": "application/json"}
    failures = []
    for name, schema in op.body_properties().items():
        targets: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        for text, message in BAD_TEXT.items():
            targets.append((("body", name), {**base, name: text}))
            items = schema.get("items", {}).get("properties", {})
            if "account" in items:  # a string inside the objects of a list (bulk items)
                item = {"offer_id": 1, "account": text}
                targets.append((("body", name, 0, "account"), {**base, name: [item]}))
            for loc, body in targets:
                # json.dumps escapes both as \\u0000 and \\ud800, as any client would send them.
                content = json.dumps(body).encode()
                response = stack.http.request(op.method, url, content=content, headers=headers)
                if not _refused(response, loc, message):
                    failures.append(f"{loc} = {text!r}: {describe(response)}")
            targets.clear()
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("op", FORM_OPS, ids=lambda op: op.id)
def test_nul_in_forms_is_422(stack: Stack, op: Operation) -> None:
    failures = []
    for name in op.body_properties():
        body = {**(example_body(op) or {}), name: "a\x00b"}
        response = send(stack, op, role="admin", body=body)
        if not _refused(response, ("body", name), NUL_MESSAGE):
            failures.append(f"{name}: {describe(response)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "op", [op for op in operations() if op.param("path")], ids=lambda op: op.id
)
def test_nul_in_paths_is_422(stack: Stack, op: Operation) -> None:
    param = op.param("path")[0]
    response = send(stack, op, role="admin", path={param.name: "1\x00"})
    assert _refused(response, ("path",), NUL_MESSAGE), describe(response)


def test_nul_in_the_upload_form_is_422(stack: Stack) -> None:
    response = stack.http.post(
        "/api/v1/emag/bulk/offers/upload",
        data={"account": "ma\x00in"},
        files={"file": ("offers.csv", b"offer_id,stock\n1,2\n", "text/csv")},
        headers=stack.auth("admin"),
    )
    assert response.status_code == 422, describe(response)
    assert ("body", "account") in error_locations(response)


def test_nul_in_a_json_key_and_deep_nesting(stack: Stack) -> None:
    headers = {**stack.auth("admin"), "Content-Type": "application/json"}
    key = stack.http.post("/api/v1/users", content=b'{"a\\u0000": 1}', headers=headers)
    assert _refused(key, ("body", "a\x00"), NUL_MESSAGE), describe(key)
    deep = b"[" * 100_000 + b'"\\u0000"' + b"]" * 100_000
    response = stack.http.post("/api/v1/users", content=deep, headers=headers)
    assert 400 <= response.status_code < 500, describe(response)


def test_escaped_backslashes_are_not_nul(stack: Stack) -> None:
    """The control: the six characters ``\\u0000`` written as text (an escaped backslash) are
    ordinary text, refused only by the route's own rules."""
    headers = {**stack.auth("admin"), "Content-Type": "application/json"}
    body = json.dumps({"email": "x", "password": "\\u0000 is six characters"}).encode()
    assert b"\\\\u0000" in body
    response = stack.http.post("/api/v1/users", content=body, headers=headers)
    assert response.status_code == 422, describe(response)
    assert all(e["loc"] != ["body", "password"] for e in response.json()["detail"]), response.text
