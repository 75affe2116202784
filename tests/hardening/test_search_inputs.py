"""SQL metacharacters and unicode in every free-text filter of every listing: 2xx with the
right rows (the text taken literally), or a clear 4xx; never a 5xx.

Every GET route's free-text query parameters (``search``, ``account``, the audit log's filters,
the dashboard's filters...) get each kind of :data:`CORE`. NUL is refused everywhere (422 naming
the parameter) since PostgreSQL cannot store or compare it. On the JSON listings and the CSV
exports, ``search`` gets all of :data:`PAYLOADS` and must return exactly the seeded rows that
contain the text (LIKE wildcards, quotes and backslashes taken literally), counted here from
what was seeded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.hardening.conftest import SPECIAL_NAMES, Stack
from tests.hardening.drills import describe, detail_text, send
from tests.hardening.inventory import Operation, is_free_text, operations

PAYLOADS = [
    "'",
    '"',
    ";",
    "--",
    "%",
    "_",
    "\\",
    "%_",
    "\\%",
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    "semi;colon",
    "50%",
    "🚀",
    "مرحبا",
    "\u202e",
    "\u202ereversed",
    "٣",
    "   ",
    "\x00",
    "a\x00b",
    "\ufffd",
    "²",  # str.isdigit() holds, int() refuses it
    "9" * 40,  # digits, but past any id column
]
# Each kind once, for the drill of every parameter (PAYLOADS has variants that match rows).
CORE = ["'", '"', ";", "--", "%", "_", "\\", "' OR '1'='1", "🚀", "مرحبا", "\u202e", "٣", "   "]
CORE += ["\x00", "\ufffd", "²", "9" * 40]
# Reads that ask eMAG each time (at the seeded accounts' closed port, each request pays the
# client's retries): one of each family of payload.
ASKS_EMAG = {"/admin/accounts/{name}/addresses"}
CORE_SHORT = ["' OR '1'='1", "🚀", "\u202e", "\x00", "9" * 40]


LISTINGS = [
    op
    for op in operations()
    if op.method == "GET" and any(is_free_text(p.schema) for p in op.param("query"))
]


def test_the_drill_covers_the_search_fields() -> None:
    searched = {op.id for op in LISTINGS if any(p.name == "search" for p in op.params)}
    assert len(LISTINGS) >= 15
    assert len(searched) >= 9, searched  # 3 listings, 3 exports, 3 dashboard pages


@pytest.mark.parametrize("op", LISTINGS, ids=lambda op: op.id)
def test_metacharacters_and_unicode_are_never_a_5xx(stack: Stack, op: Operation) -> None:
    failures = []
    for param in (p for p in op.param("query") if is_free_text(p.schema)):
        required = {p.name: "1" for p in op.param("query") if p.required and p.name != param.name}
        for payload in CORE_SHORT if op.path in ASKS_EMAG else CORE:
            try:
                response = send(stack, op, role="admin", params={**required, param.name: payload})
            except httpx.HTTPError as exc:  # a streamed answer broken by an error half-way
                failures.append(f"{param.name}={payload!r}: {exc!r}")
                continue
            status = response.status_code
            if "\x00" in payload:
                ok = status == 422 and ("query", param.name) in [
                    tuple(e["loc"]) for e in response.json()["detail"]
                ]
            elif status < 400:
                ok = True  # the data, or the dashboard's redirect (/login when signed in)
            else:
                ok = 400 <= status < 500 and len(detail_text(response)) > 3
            if not ok:
                failures.append(f"{param.name}={payload!r}: {describe(response)}")
    assert not failures, "\n".join(failures)


# --- exact results -----------------------------------------------------------------------------


def _offers(stack: Stack, text: str) -> int:
    needle = text.lower()
    return sum(
        any(needle in value.lower() for value in (o["name"], o["part_number"], o["key"]))
        for o in stack.seed.offers
    )


def _orders(stack: Stack, text: str) -> int:
    return sum(text.lower() in o["customer_name"].lower() for o in stack.seed.orders)


def _customers(stack: Stack, text: str) -> int:
    # The listing strips the text, and a blank search is no search.
    needle = text.strip().lower()
    return sum(needle in c["name"].lower() for c in stack.seed.customers)


def _total(response: Any) -> int:
    return int(response.json()["total"])


def _csv_rows(response: Any) -> int:
    return len(list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))) - 1


EXACT: list[tuple[str, Callable[[Stack, str], int], Callable[[Any], int]]] = [
    ("/api/v1/emag/offers", _offers, _total),
    ("/api/v1/emag/orders", _orders, _total),
    ("/api/v1/admin/emag-customers", _customers, _total),
    ("/api/v1/emag/offers/export", _offers, _csv_rows),
    ("/api/v1/emag/orders/export", _orders, _csv_rows),
    ("/api/v1/admin/emag-customers/export", _customers, _csv_rows),  # the listing's rows
]


def test_the_seed_has_the_characters_searched() -> None:
    """The control: most payloads match some seeded row, so "no rows" is not always right."""
    matching = [p for p in PAYLOADS if any(p.strip() and p in name for name in SPECIAL_NAMES)]
    assert len(matching) >= 12, matching


@pytest.mark.parametrize(("path", "expected", "count"), EXACT, ids=[path for path, _, _ in EXACT])
def test_search_takes_the_text_literally(
    stack: Stack,
    path: str,
    expected: Callable[[Stack, str], int],
    count: Callable[[Any], int],
) -> None:
    failures = []
    for payload in [p for p in PAYLOADS if "\x00" not in p]:
        response = stack.http.get(path, params={"search": payload}, headers=stack.auth("admin"))
        if response.status_code != 200:
            failures.append(f"search={payload!r}: {describe(response)}")
            continue
        want, got = expected(stack, payload), count(response)
        if want != got:
            failures.append(f"search={payload!r}: {got} rows, expected {want}")
    assert not failures, "\n".join(failures)
