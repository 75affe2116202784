"""The users admin API (``/api/v1/users``) over HTTP, against a real server."""

from __future__ import annotations

import httpx
import pytest

from magflow.auth.models import Role
from magflow.auth.passwords import MIN_PASSWORD_LENGTH
from magflow.context import AppContext
from tests.factories import make_user
from tests.support.auth import auth_headers, login


async def test_admin_lists_creates_and_updates_users(ctx: AppContext, api: str) -> None:
    admin = await make_user(ctx, role=Role.admin)
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, admin.email)
        # Create with a generated password: returned once, and it works.
        response = await client.post(
            "/api/v1/users",
            headers=headers,
            json={"email": " New.One@Example.com ", "role": "operator"},
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["email"] == "new.one@example.com" and created["role"] == "operator"
        generated = created["generated_password"]
        assert generated and len(generated) >= MIN_PASSWORD_LENGTH
        await login(client, "new.one@example.com", generated)
        # Create with a chosen password: nothing is echoed back.
        response = await client.post(
            "/api/v1/users",
            headers=headers,
            json={"email": "chosen@example.com", "password": "a-long-password", "role": "viewer"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["generated_password"] is None
        await login(client, "chosen@example.com", "a-long-password")
        # The list never shows passwords or hashes.
        response = await client.get("/api/v1/users", headers=headers)
        assert response.status_code == 200
        listed = {u["email"]: u for u in response.json()}
        assert {admin.email, "new.one@example.com", "chosen@example.com"} <= set(listed)
        assert all("password" not in k for u in response.json() for k in u)
        # Change a role.
        response = await client.patch(
            f"/api/v1/users/{created['id']}", headers=headers, json={"role": "viewer"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["role"] == "viewer" and response.json()["is_active"] is True
        # Unknown user.
        response = await client.patch("/api/v1/users/999999", headers=headers, json={})
        assert response.status_code == 404


async def test_disabling_or_demoting_revokes_tokens(ctx: AppContext, api: str) -> None:
    admin = await make_user(ctx, role=Role.admin)
    victim = await make_user(ctx, role=Role.operator)
    demoted = await make_user(ctx, role=Role.operator)
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, admin.email)
        victim_headers = await auth_headers(client, victim.email)
        demoted_headers = await auth_headers(client, demoted.email)
        assert (await client.get("/api/v1/auth/me", headers=victim_headers)).status_code == 200

        response = await client.patch(
            f"/api/v1/users/{victim.id}", headers=headers, json={"is_active": False}
        )
        assert response.status_code == 200 and response.json()["is_active"] is False
        assert (await client.get("/api/v1/auth/me", headers=victim_headers)).status_code == 401
        refused = await client.post(
            "/api/v1/auth/login", data={"username": victim.email, "password": "x" * 12}
        )
        assert refused.status_code == 401

        response = await client.patch(
            f"/api/v1/users/{demoted.id}", headers=headers, json={"role": "viewer"}
        )
        assert response.status_code == 200
        assert (await client.get("/api/v1/auth/me", headers=demoted_headers)).status_code == 401
        fresh = await auth_headers(client, demoted.email)
        me = await client.get("/api/v1/auth/me", headers=fresh)
        assert me.json()["role"] == "viewer"

        # Re-enabling lets the user log in again.
        response = await client.patch(
            f"/api/v1/users/{victim.id}", headers=headers, json={"is_active": True}
        )
        assert response.status_code == 200
        await auth_headers(client, victim.email)


async def test_admin_cannot_disable_or_demote_themself(ctx: AppContext, api: str) -> None:
    admin = await make_user(ctx, role=Role.admin)
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, admin.email)
        for body, text in (
            ({"is_active": False}, "cannot disable yourself"),
            ({"role": "operator"}, "cannot remove your own admin role"),
        ):
            response = await client.patch(f"/api/v1/users/{admin.id}", headers=headers, json=body)
            assert response.status_code == 409, response.text
            assert text in response.json()["detail"]
        # A no-op on oneself is fine, and the token still works.
        response = await client.patch(
            f"/api/v1/users/{admin.id}", headers=headers, json={"role": "admin", "is_active": True}
        )
        assert response.status_code == 200
        assert (await client.get("/api/v1/users", headers=headers)).status_code == 200


async def test_bad_input_and_duplicates(ctx: AppContext, api: str) -> None:
    admin = await make_user(ctx, role=Role.admin)
    other = await make_user(ctx, role=Role.viewer)
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, admin.email)
        for body in (
            {"email": "short@example.com", "password": "x" * (MIN_PASSWORD_LENGTH - 1)},
            {"email": "no-at-sign", "role": "viewer"},
            {"email": "role@example.com", "role": "superuser"},
            {"role": "viewer"},
        ):
            response = await client.post("/api/v1/users", headers=headers, json=body)
            assert response.status_code == 422, (body, response.text)
        response = await client.patch(
            f"/api/v1/users/{other.id}", headers=headers, json={"role": "owner"}
        )
        assert response.status_code == 422
        response = await client.patch(
            "/api/v1/users/not-a-number", headers=headers, json={"role": "viewer"}
        )
        assert response.status_code == 422
        response = await client.post(
            "/api/v1/users", headers=headers, json={"email": other.email.upper()}
        )
        assert response.status_code == 409
        assert "already exists" in response.json()["detail"]


@pytest.mark.parametrize("role", [Role.operator, Role.viewer])
async def test_only_admins(ctx: AppContext, api: str, role: Role) -> None:
    user = await make_user(ctx, role=role)
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, user.email)
        calls = [
            ("GET", "/api/v1/users", None),
            ("POST", "/api/v1/users", {"email": "x@example.com"}),
            ("PATCH", f"/api/v1/users/{user.id}", {"role": "admin"}),
        ]
        for method, path, body in calls:
            response = await client.request(method, path, headers=headers, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert "needs the admin role" in response.json()["detail"]
        anonymous = await client.get("/api/v1/users")
        assert anonymous.status_code == 401
