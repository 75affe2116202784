"""Login lockout and token revocation: behaviour the mutation sample found unasserted (issue 19).

Through the HTTP API of the app under uvicorn, with the in-process or the Redis throttle (per
backend). The lockout window is set short so the lockout's end can be observed.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from magflow.auth import service as auth_service
from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.settings import Settings
from tests.conftest import Backend
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.support.auth import auth_headers, login

WINDOW = 10  # seconds of the lockout window here (5 failed logins fit in it on a busy machine)
MAX_FAILURES = 5


@pytest.fixture
def settings(settings: Settings, backend: Backend) -> Settings:
    return settings.model_copy(
        update={
            "login_failure_window_seconds": WINDOW,
            "login_max_failures": MAX_FAILURES,
        }
    )


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", data={"username": email, "password": password})


async def test_the_lockout_lasts_as_long_as_retry_after_says(ctx: AppContext, api: str) -> None:
    """Locked out after 5 failures: refused with 429 until ``Retry-After`` has (almost) passed,
    the right password included; accepted once it has."""
    user = await make_user(ctx)
    async with httpx.AsyncClient(base_url=api) as client:
        for _ in range(MAX_FAILURES):
            assert (await attempt(client, user.email, "wrong password")).status_code == 401
        locked = await attempt(client, user.email, DEFAULT_PASSWORD)
        locked_at = time.monotonic()
        assert locked.status_code == 429, locked.text
        retry_after = int(locked.headers["Retry-After"])
        assert 1 <= retry_after <= WINDOW

        # Retry-After is rounded up to a whole second: the lockout runs at least until one
        # second before it. Half-way, and until then, the right password is still refused.
        still_locked_until = locked_at + retry_after - 1
        await asyncio.sleep(max(0.0, still_locked_until - 0.5 - time.monotonic()))
        refused = await attempt(client, user.email, DEFAULT_PASSWORD)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1

        await asyncio.sleep(max(0.0, locked_at + retry_after + 0.2 - time.monotonic()))
        await login(client, user.email)  # 200 once Retry-After has passed


async def test_failures_for_an_unknown_email_are_counted_too(api: str) -> None:
    """Guessing emails is throttled like guessing passwords (and answers the same)."""
    async with httpx.AsyncClient(base_url=api) as client:
        for _ in range(MAX_FAILURES):
            response = await attempt(client, "nobody@example.com", "any password at all")
            assert response.status_code == 401
        locked = await attempt(client, "Nobody@Example.com ", "any password at all")
        assert locked.status_code == 429, locked.text
        assert int(locked.headers["Retry-After"]) >= 1


async def test_re_enabling_a_user_does_not_bring_back_old_tokens(ctx: AppContext, api: str) -> None:
    admin = await make_user(ctx, role=Role.admin)
    user = await make_user(ctx)
    async with httpx.AsyncClient(base_url=api) as client:
        old = await auth_headers(client, user.email)
        old_refresh = (await login(client, user.email))["refresh_token"]
        assert (await client.get("/api/v1/auth/me", headers=old)).status_code == 200
        admin_headers = await auth_headers(client, admin.email)
        for active in (False, True):
            response = await client.patch(
                f"/api/v1/users/{user.id}", json={"is_active": active}, headers=admin_headers
            )
            assert response.status_code == 200, response.text
            assert response.json()["is_active"] is active

        assert (await client.get("/api/v1/auth/me", headers=old)).status_code == 401
        again = await client.post("/api/v1/auth/refresh", json={"refresh_token": old_refresh})
        assert again.status_code == 401
        fresh = await auth_headers(client, user.email)  # the user can log in again
        assert (await client.get("/api/v1/auth/me", headers=fresh)).status_code == 200


async def test_the_demo_admin_password_reset_revokes_earlier_tokens(
    ctx: AppContext, api: str
) -> None:
    """``magflow demo`` resets the demo admin's password at every start: whoever held a token
    from before (or knew the old password) is out."""
    email = "demo-admin@example.com"
    first, second = "first demo password 1a", "second demo password 2b"
    async with ctx.db.session() as session:
        await auth_service.set_demo_admin(session, email, first)
        await session.commit()
    async with httpx.AsyncClient(base_url=api) as client:
        old = await auth_headers(client, email, first)
        old_refresh = (await login(client, email, first))["refresh_token"]
        assert (await client.get("/api/v1/users", headers=old)).status_code == 200

        async with ctx.db.session() as session:
            await auth_service.set_demo_admin(session, email, second)
            await session.commit()

        assert (await client.get("/api/v1/users", headers=old)).status_code == 401
        again = await client.post("/api/v1/auth/refresh", json={"refresh_token": old_refresh})
        assert again.status_code == 401
        assert (await attempt(client, email, first)).status_code == 401
        fresh = await auth_headers(client, email, second)
        assert (await client.get("/api/v1/users", headers=fresh)).status_code == 200
