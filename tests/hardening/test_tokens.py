"""Bad credentials on every route that needs them: 401 with a message (the API) or the login
page (the dashboard), never a 5xx and never the data.

Tokens: none, not a JWT, three dots, ``alg: none``, signed with another key, expired (signed with
the right key), a refresh token used as an access token, an unknown user, a revoked token (old
``token_version``), a subject that is not a number, no ``exp``.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from magflow.common.crypto import derive_key
from tests.hardening.conftest import Stack
from tests.hardening.drills import describe, detail_text, send
from tests.hardening.inventory import Operation, operations

AUTHENTICATED = [op for op in operations() if not op.public]


def forge(key: str, **claims: Any) -> str:
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "type": "access",
        "ver": 0,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": "forged",
        **claims,
    }
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, "HS256")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def bad_tokens(stack: Stack) -> dict[str, str | None]:
    """Each kind of bad token (None: no token at all), for the admin where it names a user."""
    key = derive_key(stack.settings.resolved_secret_key(), "jwt-signing")
    admin = str(stack.seed.users["admin"])
    past = datetime.now(UTC) - timedelta(hours=1)
    return {
        "missing": None,
        "not a jwt": "not-a-jwt",
        "three dots": "a.b.c",
        "alg none": _b64({"alg": "none", "typ": "JWT"})
        + "."
        + _b64({"sub": admin, "type": "access", "ver": 0, "iat": 0, "exp": 4102444800})
        + ".",
        "other key": forge("another-key-entirely-0123456789abcdef", sub=admin),
        "expired": forge(key, sub=admin, iat=past - timedelta(minutes=30), exp=past),
        "refresh as access": forge(key, sub=admin, type="refresh"),
        "unknown user": forge(key, sub="987654"),
        "revoked": forge(key, sub=admin, ver=7),
        "subject not a number": forge(key, sub="admin"),
        "no exp": forge(key, sub=admin, exp=None),
    }


@pytest.mark.parametrize("op", AUTHENTICATED, ids=lambda op: op.id)
def test_bad_tokens_are_refused_with_a_message(
    stack: Stack, bad_tokens: dict[str, str | None], op: Operation
) -> None:
    failures = []
    for kind, token in bad_tokens.items():
        response = send(stack, op, role=None, token=token)
        if op.dashboard:
            # The dashboard sends the browser to the login page (to come back afterwards).
            ok = response.status_code == 303 and response.headers["location"].startswith(
                "/login?next="
            )
        else:
            ok = (
                response.status_code == 401
                and response.headers.get("www-authenticate") == "Bearer"
                and len(detail_text(response)) > 10
            )
        if not ok:
            failures.append(f"{kind}: {describe(response)}")
    assert not failures, "\n".join(failures)


def test_the_messages_say_what_is_wrong(stack: Stack, bad_tokens: dict[str, str | None]) -> None:
    expected = {
        "missing": "not authenticated",
        "expired": "token has expired",
        "refresh as access": "expected an access token",
        "other key": "token is invalid",
        "not a jwt": "token is invalid",
    }
    for kind, message in expected.items():
        headers = stack.auth(None, bad_tokens[kind])
        response = stack.http.get("/api/v1/auth/me", headers=headers)
        assert response.status_code == 401, describe(response)
        assert message in response.json()["detail"], (kind, response.text)


def test_refresh_refuses_access_expired_and_garbage_tokens(
    stack: Stack, bad_tokens: dict[str, str | None]
) -> None:
    key = derive_key(stack.settings.resolved_secret_key(), "jwt-signing")
    admin = str(stack.seed.users["admin"])
    past = datetime.now(UTC) - timedelta(hours=1)
    cases = {
        "an access token": (stack.seed.tokens["admin"], "expected a refresh token"),
        "an expired refresh token": (
            forge(key, sub=admin, type="refresh", iat=past - timedelta(days=1), exp=past),
            "token has expired",
        ),
        "garbage": ("garbage", "token is invalid"),
    }
    for kind, (token, message) in cases.items():
        response = stack.http.post("/api/v1/auth/refresh", json={"refresh_token": token})
        assert response.status_code == 401, (kind, describe(response))
        assert message in response.json()["detail"], (kind, response.text)
    wrong_type = stack.http.post("/api/v1/auth/refresh", json={"refresh_token": 12345})
    assert wrong_type.status_code == 422
    assert ("body", "refresh_token") in [tuple(e["loc"]) for e in wrong_type.json()["detail"]]


def test_a_good_token_still_works(stack: Stack) -> None:
    """The control: the same requests with the admin's own token get through."""
    headers = stack.auth("admin")
    assert stack.http.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert stack.http.get("/", headers=headers).status_code == 200
