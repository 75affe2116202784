"""Unknown accounts on every route that takes one: 404 (or 422) with a message naming the
account, never a 5xx, nothing written.

Routes taking an account are found in the route table: a query parameter, a JSON, form or
multipart field named ``account``, and the ``{name}`` of the account routes. Accounts are named
or numbered, so the unknown ones are names, ids that do not exist, ids beyond any column, digits
that are not ASCII (``int("²")`` raises), blanks and overlong text. The rest of each request is a
valid example (for the write routes: a request that would be carried out for a real account).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.hardening.conftest import Stack
from tests.hardening.drills import describe, detail_text, example_body, send
from tests.hardening.inventory import Operation, operations, types_of

UNKNOWN = [
    "no-such-account",
    "404404",
    "2147483647",
    "2147483648",
    "99999999999999999999999999",
    "-1",
    "0",
    "²",
    "٣٣٣",
    "\u0661",  # ARABIC-INDIC DIGIT ONE
    " ",
    "main ",
    "x" * 300,
]


def _where(op: Operation) -> str | None:
    """How ``op`` takes an account: "query", "body", "path", or None."""
    if any(p.name == "account" and p.location == "query" for p in op.params):
        return "query"
    if "account" in op.body_properties():
        return "body"
    if op.path in ("/api/v1/accounts/{name}", "/admin/accounts/{name}/delete"):
        return "path"
    return None


TAKING = [op for op in operations() if _where(op)]


def test_the_drill_finds_the_routes_taking_an_account() -> None:
    found = {op.id for op in TAKING}
    assert len(found) >= 20, found
    assert {
        "POST /api/v1/emag/enhanced/sync/{kind}",
        "POST /api/v1/emag/bulk/offers",
        "POST /api/v1/emag/bulk/offers/upload",
        "PUT /api/v1/emag/bulk/stock-buffer",
        "DELETE /api/v1/accounts/{name}",
        "GET /api/v1/emag/offers",
        "GET /offers",
        "POST /sync/start",
    } <= found


def _request(op: Operation, value: str) -> dict[str, Any]:
    where = _where(op)
    if where == "query":
        required = {p.name: "1" for p in op.param("query") if p.required and p.name != "account"}
        return {"params": {**required, "account": value}}
    if where == "path":
        return {"path": {"name": value}}
    body = example_body(op) or {}
    return {"body": {**body, "account": value}}


@pytest.mark.parametrize("op", TAKING, ids=lambda op: op.id)
def test_an_unknown_account_is_a_clear_4xx(stack: Stack, op: Operation) -> None:
    failures = []
    for value in UNKNOWN:
        response = send(stack, op, role="admin", **_request(op, value))
        text = detail_text(response)
        if op.dashboard and response.status_code == 200:
            # A dashboard page or fragment shows the API's message in place of the data.
            ok = "no eMAG account" in response.text
        else:
            ok = response.status_code in (404, 422) and (
                "account" in text or (response.status_code == 422 and value.strip() != value)
            )
        if not ok:
            failures.append(f"account={value[:30]!r}: {describe(response)}")
    assert not failures, "\n".join(failures)


def test_a_known_account_by_name_and_by_id_is_found(stack: Stack) -> None:
    """The control: the same listing answers 200 for the seeded account, by name or by id."""
    for ref in ("main", str(stack.seed.account_ids["main"])):
        response = stack.http.get(
            "/api/v1/emag/offers", params={"account": ref}, headers=stack.auth("admin")
        )
        assert response.status_code == 200, describe(response)
        assert response.json()["total"] == len(stack.seed.offers)


# --- unknown ids ----------------------------------------------------------------------------------

MISSING_ID = 2_147_000_000  # within the id columns' range, and no row has it
ID_ROUTES = [
    op for op in operations() if any("integer" in types_of(p.schema) for p in op.param("path"))
]


@pytest.mark.parametrize("op", ID_ROUTES, ids=lambda op: op.id)
def test_an_unknown_id_is_a_clear_404(stack: Stack, op: Operation) -> None:
    """The same for the ids in paths (runs, offers, orders, customers, users, bulk operations)."""
    path = {p.name: MISSING_ID for p in op.param("path") if "integer" in types_of(p.schema)}
    response = send(stack, op, role="admin", path=path)
    if op.dashboard and response.status_code == 200:
        # A fragment: the API's message in place of the content (the one about the id, or one
        # about the example body, which the API checks first).
        assert "flash-error" in response.text or str(MISSING_ID) in response.text, describe(
            response
        )
    elif response.status_code == 422:
        # The example body was refused first (a domain rule, with its message): still no 5xx.
        assert isinstance(response.json()["detail"], str), describe(response)
    else:
        assert response.status_code == 404, describe(response)
        assert str(MISSING_ID) in detail_text(response), describe(response)
