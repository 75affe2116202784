"""A viewer calling every write route (POST, PUT, PATCH, DELETE of the API and the dashboard)
gets 403 with a message naming the role needed, with a body the route would otherwise accept;
and the admin-only reads are refused to operators too.

The only writes a viewer may call are their own session's: logging in, refreshing and logging
out (``VIEWER_MAY``). Logging out is not drilled: it would revoke the viewer's token.
"""

from __future__ import annotations

import pytest

from tests.hardening.conftest import Stack
from tests.hardening.drills import describe, detail_text, send
from tests.hardening.inventory import Operation, operations

VIEWER_MAY = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password"),  # your own password, any role
    ("POST", "/login"),
    ("POST", "/logout"),
    ("PUT", "/api/v1/alerts/subscription"),  # your own alert e-mails, any role
    ("POST", "/alerts/subscription"),  # the same on the dashboard
}
WRITES = [op for op in operations() if op.writes and (op.method, op.path) not in VIEWER_MAY]
# Reads that carry personal data or configuration: admins only (operators get 403 as well).
ADMIN_READS = {
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/admin/emag-customers/export"),
    ("GET", "/admin"),
    ("GET", "/users"),
    ("GET", "/api/v1/alerts/webhooks"),
}


def test_the_exceptions_are_real_routes() -> None:
    table = {(op.method, op.path) for op in operations()}
    assert table >= VIEWER_MAY | ADMIN_READS
    assert len(WRITES) >= 25  # the drill below covers the write routes of every domain


@pytest.mark.parametrize("op", WRITES, ids=lambda op: op.id)
def test_a_viewer_cannot_call_a_write_route(stack: Stack, op: Operation) -> None:
    response = send(stack, op, role="viewer")
    assert response.status_code == 403, describe(response)
    message = detail_text(response)
    assert "role" in message and ("operator" in message or "admin" in message), message


@pytest.mark.parametrize(
    "op", [op for op in operations() if (op.method, op.path) in ADMIN_READS], ids=lambda op: op.id
)
def test_admin_reads_are_refused_below_admin(stack: Stack, op: Operation) -> None:
    for role in ("viewer", "operator"):
        response = send(stack, op, role=role)
        assert response.status_code == 403, describe(response)
        assert "admin" in detail_text(response)
