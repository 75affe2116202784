"""Wrong types on every route: 422 with the offending field named in ``loc``.

For each operation of the route table (as an admin, so that no role check answers first), each
in turn: every path, query and header parameter given a value its schema refuses (text for a
number, an unknown option for an enum, one character too many for a bounded string); every
field of a JSON or form body given a value of another type (an object for a string, text for a
number or a list...), fields of the objects inside lists included; the whole JSON body replaced
by a list, and by broken JSON; and every integer parameter given 2**64 + 7, which no database
column holds. The rest of each request is a valid example, so the 422 is about that one field.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.hardening.conftest import Stack
from tests.hardening.drills import describe, error_locations, example_body, send
from tests.hardening.inventory import Operation, example, operations, types_of, wrong_body_value
from tests.hardening.inventory import wrong_text_value as wrong_text

HUGE = 2**64 + 7
OPERATIONS = [op for op in operations() if op.method != "GET" or op.params]


def _cases(op: Operation) -> list[tuple[str, dict[str, Any], tuple[Any, ...]]]:
    """(description, send() arguments, the loc prefix the 422 must name)."""
    cases: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = []
    for param in op.params:
        wrong = wrong_text(param.schema)
        kinds = types_of(param.schema)
        bad = [wrong] if wrong is not None else []
        if kinds & {"integer"} or (
            kinds == {"array", "null"} and "integer" in str(param.schema.get("anyOf"))
        ):
            bad.append(str(HUGE))
        for value in bad:
            args: dict[str, Any]
            if param.location == "path":
                args = {"path": {param.name: value}}
            elif param.location == "query":
                args = {"params": {param.name: value}}
            elif param.location == "header":
                args = {"headers": {param.name: value}}
            else:
                continue
            cases.append(
                (
                    f"{param.location} {param.name}={value[:40]!r}",
                    args,
                    (param.location, param.name),
                )
            )
    if op.body_type == "application/json":
        base = example_body(op)
        cases.append(("body is a list", {"body": ["not", "an", "object"]}, ("body",)))
        for name, schema in op.body_properties().items():
            wrong_value = wrong_body_value(schema)
            if wrong_value is not None:
                body = {**copy.deepcopy(base), name: wrong_value}
                cases.append((f"body {name}={wrong_value!r}", {"body": body}, ("body", name)))
            for option in [schema, *schema.get("anyOf", [])]:
                items = option.get("items", {}) if option.get("type") == "array" else {}
                for item_name, item_schema in items.get("properties", {}).items():
                    wrong_item = wrong_body_value(item_schema)
                    if wrong_item is None:
                        continue
                    item = {**example(items), item_name: wrong_item}
                    body = {**copy.deepcopy(base), name: [item]}
                    cases.append(
                        (
                            f"body {name}[0].{item_name}",
                            {"body": body},
                            ("body", name, 0, item_name),
                        )
                    )
    elif op.body_type == "application/x-www-form-urlencoded":
        base = example_body(op)
        for name, schema in op.body_properties().items():
            wrong_value = wrong_text(schema)
            if wrong_value is not None:
                body = {**base, name: wrong_value}
                cases.append((f"form {name}={wrong_value[:40]!r}", {"body": body}, ("body", name)))
    return cases


CASES = {op.id: _cases(op) for op in OPERATIONS}


def test_every_kind_of_field_is_drilled() -> None:
    """The drill is not vacuous: most operations have cases, of every location."""
    drilled = [op_id for op_id, cases in CASES.items() if cases]
    assert len(drilled) >= 50, drilled
    locations = {loc[0] for cases in CASES.values() for _, _, loc in cases}
    assert locations == {"path", "query", "header", "body"}
    assert sum(len(cases) for cases in CASES.values()) >= 250


@pytest.mark.parametrize("op", [op for op in OPERATIONS if CASES[op.id]], ids=lambda op: op.id)
def test_wrong_types_are_422_naming_the_field(stack: Stack, op: Operation) -> None:
    failures = []
    for description, args, loc in CASES[op.id]:
        response = send(stack, op, role="admin", **args)
        if response.status_code == 404 and loc[0] == "path" and ":" in op.route_path:
            continue  # "{id:int}": no route matches, a clear 404
        named = response.status_code == 422 and any(
            found[: len(loc)] == loc for found in error_locations(response)
        )
        if not named:
            failures.append(f"{description}: expected 422 naming {loc}; {describe(response)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "op",
    [op for op in OPERATIONS if op.body_type == "application/json"],
    ids=lambda op: op.id,
)
def test_broken_json_is_422(stack: Stack, op: Operation) -> None:
    url = op.path
    for name, value in stack.seed.path_values().items():
        url = url.replace("{" + name + "}", str(value))
    response = stack.http.request(
        op.method,
        url,
        content=b'{"broken": ',
        headers={**stack.auth("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, describe(response)
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_a_non_ascii_digit_reason_on_the_dashboard_is_no_500(stack: Stack) -> None:
    """``"²".isdigit()`` is true but ``int("²")`` raises: the order form's cancellation reason
    is only a number when it is ASCII digits (else the API's own refusal is shown)."""
    response = stack.http.post(
        f"/orders/{stack.seed.order_id}/status",
        data={"status": "0", "reason": "²"},
        headers=stack.auth("admin"),
    )
    assert response.status_code == 200, describe(response)
    assert "flash-error" in response.text and "reason" in response.text, response.text
