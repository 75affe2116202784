from __future__ import annotations

from datetime import timedelta

import httpx
import jwt
import pytest

from magflow.auth.models import Role, User
from magflow.auth.tokens import TokenService
from magflow.context import AppContext
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.support.auth import login


@pytest.fixture
async def client(api: str) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=api) as client:
        yield client  # type: ignore[misc]


async def test_login_returns_tokens_that_work(ctx: AppContext, client: httpx.AsyncClient) -> None:
    user = await make_user(ctx, role=Role.operator, email="Op@Example.com")
    tokens = await login(client, "op@example.com")
    assert tokens["token_type"] == "bearer"
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == "op@example.com"
    assert me.json()["role"] == "operator"
    assert me.json()["id"] == user.id
    assert "password" not in me.text and "hash" not in me.text


@pytest.mark.parametrize(
    ("email", "password", "active"),
    [
        ("known@example.com", "wrong password!", True),
        ("unknown@example.com", DEFAULT_PASSWORD, True),
        ("known@example.com", DEFAULT_PASSWORD, False),
    ],
    ids=["wrong-password", "unknown-user", "disabled-user"],
)
async def test_login_failures_are_401_with_one_message(
    ctx: AppContext, client: httpx.AsyncClient, email: str, password: str, active: bool
) -> None:
    await make_user(ctx, email="known@example.com", is_active=active)
    response = await client.post(
        "/api/v1/auth/login", data={"username": email, "password": password}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "incorrect email or password" in response.json()["detail"]


async def test_login_without_form_fields_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/login", data={"username": "x@example.com"})
    assert response.status_code == 422


async def test_lockout_after_five_failures_within_a_minute(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    await make_user(ctx, email="target@example.com")
    for _ in range(5):
        response = await client.post(
            "/api/v1/auth/login", data={"username": "target@example.com", "password": "nope-nope"}
        )
        assert response.status_code == 401
    # Even the right password is refused now, with a hint when to come back.
    response = await client.post(
        "/api/v1/auth/login", data={"username": "target@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    # Other users are not affected.
    await make_user(ctx, email="other@example.com")
    assert (await login(client, "other@example.com"))["access_token"]


async def test_successful_login_resets_the_failure_count(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    await make_user(ctx, email="typo@example.com")
    for _ in range(4):
        await client.post(
            "/api/v1/auth/login", data={"username": "typo@example.com", "password": "nope-nope"}
        )
    await login(client, "typo@example.com")
    for _ in range(4):
        await client.post(
            "/api/v1/auth/login", data={"username": "typo@example.com", "password": "nope-nope"}
        )
    await login(client, "typo@example.com")


async def test_refresh_gives_a_new_pair_and_rejects_access_tokens(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    await make_user(ctx, email="r@example.com")
    tokens = await login(client, "r@example.com")
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"]
    wrong_kind = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}
    )
    assert wrong_kind.status_code == 401
    # ...and a refresh token is not an access token.
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert me.status_code == 401


async def test_expired_token_is_refused(ctx: AppContext, client: httpx.AsyncClient) -> None:
    user = await make_user(ctx, email="old@example.com")
    tokens = TokenService(ctx.settings.resolved_secret_key(), 1, 1)
    tokens.access_lifetime = timedelta(seconds=-5)
    expired = tokens.issue(user.id, "access", 0)
    response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_tampered_and_foreign_tokens_are_refused(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    await make_user(ctx, email="t@example.com", role=Role.viewer)
    token = (await login(client, "t@example.com"))["access_token"]
    header, payload, signature = token.split(".")
    tampered_signature = f"{header}.{payload}.{signature[:-4]}AAAA"
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "sub": "1"}, "guessed-key", algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    for bad in (tampered_signature, forged, unsigned, "not-a-jwt"):
        response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, bad


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


async def test_disabled_user_loses_access_with_a_valid_token(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    user = await make_user(ctx, email="gone@example.com")
    headers = {
        "Authorization": f"Bearer {(await login(client, 'gone@example.com'))['access_token']}"
    }
    async with ctx.db.session() as session:
        row = await session.get(type(user), user.id)
        assert row is not None
        row.is_active = False
        await session.commit()
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


@pytest.mark.parametrize("change", ["disabled", "revoked", "deleted"])
async def test_a_listing_refuses_a_token_at_once_when_its_user_changes(
    ctx: AppContext, client: httpx.AsyncClient, change: str
) -> None:
    """The listings (read-only routes) read their user by a statement of their own: a token of
    a user disabled, whose tokens were revoked, or removed, is refused there on the next
    request too, as on every other route."""
    user = await make_user(ctx, email="reader@example.com")
    token = (await login(client, "reader@example.com"))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    listing = "/api/v1/emag/sync-logs"
    assert (await client.get(listing, headers=headers)).status_code == 200
    async with ctx.db.session() as session:
        row = await session.get(User, user.id)
        assert row is not None
        if change == "disabled":
            row.is_active = False
        elif change == "revoked":
            row.token_version += 1
        else:
            await session.delete(row)
        await session.commit()
    refused = await client.get(listing, headers=headers)
    assert refused.status_code == 401
    expected = "token has been revoked" if change == "revoked" else "user is unknown or disabled"
    assert refused.json()["detail"] == expected


async def test_logout_revokes_refresh_tokens(ctx: AppContext, client: httpx.AsyncClient) -> None:
    await make_user(ctx, email="bye@example.com")
    tokens = await login(client, "bye@example.com")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert again.status_code == 401
    assert "revoked" in again.json()["detail"]
