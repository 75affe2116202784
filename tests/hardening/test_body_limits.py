"""Oversized bodies on every route that takes one: 413 with a message naming the limit, whether
the size is declared (``Content-Length``, refused before reading) or streamed (chunked, counted
as it arrives); bodies at the limit, and the bulk routes' larger files, still get through.

The limit is ``MAGFLOW_MAX_BODY_BYTES`` (1 MiB by default) and, under
``/api/v1/emag/bulk/offers``, the 20 MB file limit of the bulk upload plus 1 MiB of envelope.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from magflow.bulk.routes import MAX_UPLOAD_BYTES
from magflow.common.security import MIB
from tests.hardening.conftest import Stack
from tests.hardening.drills import describe, path_of
from tests.hardening.inventory import Operation, operations

BULK_PREFIX = "/api/v1/emag/bulk/offers"
BODIES = [op for op in operations() if op.writes or op.body_type]


def limit_of(stack: Stack, op: Operation) -> int:
    if op.path.startswith(BULK_PREFIX):
        return MAX_UPLOAD_BYTES + MIB
    return stack.settings.max_body_bytes


def chunks(
    size: int, chunk: int = 256 * 1024, head: bytes = b"", tail: bytes = b""
) -> Iterator[bytes]:
    """``size`` bytes in all: ``head``, filler, ``tail``."""
    yield head
    size -= len(head) + len(tail)
    while size > 0:
        yield b"x" * min(chunk, size)
        size -= chunk
    yield tail


def body_of(op: Operation, size: int) -> tuple[str, Iterator[bytes]]:
    """A well-formed body of ``size`` bytes for ``op`` (so that only its size is wrong)."""
    if op.body_type == "multipart/form-data":
        head = (
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\n"
        )
        return "multipart/form-data; boundary=xyz", chunks(size, head=head, tail=b"\r\n--xyz--\r\n")
    if op.body_type == "application/x-www-form-urlencoded":
        return op.body_type, chunks(size, head=b"pad=")
    return "application/json", chunks(size, head=b'{"pad": "', tail=b'"}')


def test_every_write_route_is_drilled() -> None:
    assert len(BODIES) >= 30
    assert {op.path for op in BODIES} >= {BULK_PREFIX, BULK_PREFIX + "/upload"}


@pytest.mark.parametrize("op", BODIES, ids=lambda op: op.id)
def test_a_body_over_the_limit_is_413(stack: Stack, op: Operation) -> None:
    limit = limit_of(stack, op)
    url = path_of(op, stack.seed)
    content_type, body = body_of(op, limit + 1)
    headers = {**stack.auth("admin"), "Content-Type": content_type}
    whole = b"".join(body_of(op, limit + 1)[1])
    declared = stack.http.request(op.method, url, content=whole, headers=headers)
    streamed = stack.http.request(op.method, url, content=body, headers=headers)
    for response in (declared, streamed):
        assert response.status_code == 413, describe(response)
        assert f"at most {limit} bytes" in response.json()["detail"], response.text
    assert "content-length" not in streamed.request.headers  # it was really chunked


def test_a_body_at_the_limit_gets_through(stack: Stack) -> None:
    limit = stack.settings.max_body_bytes
    envelope = len(json.dumps({"pad": ""}))
    body = json.dumps({"pad": "x" * (limit - envelope)}).encode()
    assert len(body) == limit
    for content in (body, chunks(limit)):
        response = stack.http.post(
            "/api/v1/users",
            content=content,
            headers={**stack.auth("admin"), "Content-Type": "application/json"},
        )
        # The route's own answer: the padding is no user (but the size was fine).
        assert response.status_code == 422, describe(response)


def test_other_content_types_are_counted_too(stack: Stack) -> None:
    limit = stack.settings.max_body_bytes
    for content_type in ("application/octet-stream", "text/plain", "application/xml"):
        response = stack.http.post(
            "/api/v1/users",
            content=chunks(limit + 1),
            headers={**stack.auth("admin"), "Content-Type": content_type},
        )
        assert response.status_code == 413, describe(response)


def test_a_get_with_a_large_body_is_413_too(stack: Stack) -> None:
    limit = stack.settings.max_body_bytes
    response = stack.http.request(
        "GET", "/api/v1/auth/me", content=b"x" * (limit + 1), headers=stack.auth("viewer")
    )
    assert response.status_code == 413, describe(response)


def test_bulk_routes_take_more_than_the_default_limit(stack: Stack) -> None:
    """A bulk request of 2 MiB passes the guard (its items are refused by the route); a 20 MB
    file passes it too, to be refused by the upload's own limit, with its own message."""
    headers = stack.auth("admin")
    padded = {"items": [], "account": "main", "pad": "x" * (2 * MIB)}
    response = stack.http.post(BULK_PREFIX, json=padded, headers=headers)
    assert response.status_code == 422, describe(response)
    assert ("body", "items") in [tuple(e["loc"]) for e in response.json()["detail"]]

    big = b"offer_id,stock\n" + b"1,2\n" * ((MAX_UPLOAD_BYTES + 100) // 4)
    response = stack.http.post(
        BULK_PREFIX + "/upload", files={"file": ("big.csv", big, "text/csv")}, headers=headers
    )
    assert response.status_code == 413, describe(response)
    assert response.json()["detail"] == "the file is larger than 20 MB"


def test_the_server_is_still_healthy(stack: Stack) -> None:
    assert stack.http.get("/health").status_code == 200
