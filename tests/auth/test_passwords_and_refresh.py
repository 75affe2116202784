"""Refresh tokens are single-use (reuse revokes the family); password change and reset."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.settings import Settings
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.support.auth import auth_headers, login

NEW_PASSWORD = "a brand new passphrase"


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_a_refresh_token_works_once_and_reuse_revokes_the_family(
    ctx: AppContext, api: str
) -> None:
    await make_user(ctx, email="rot@example.com")
    async with httpx.AsyncClient(base_url=api) as client:
        first = await login(client, "rot@example.com")
        other_login = await login(client, "rot@example.com")
        second = await _refresh(client, first["refresh_token"])
        assert second.status_code == 200, second.text
        third = await _refresh(client, second.json()["refresh_token"])
        assert third.status_code == 200
        # The thief replays the first token: refused, and the family is revoked...
        replay = await _refresh(client, first["refresh_token"])
        assert replay.status_code == 401
        assert "already used" in replay.json()["detail"]
        # ...so the latest token of that family no longer works either,
        latest = await _refresh(client, third.json()["refresh_token"])
        assert latest.status_code == 401
        # while another login (another family) is untouched.
        assert (await _refresh(client, other_login["refresh_token"])).status_code == 200


async def test_change_own_password_needs_the_current_one_and_revokes_tokens(
    ctx: AppContext, api: str
) -> None:
    await make_user(ctx, email="self@example.com")
    async with httpx.AsyncClient(base_url=api) as client:
        tokens = await login(client, "self@example.com")
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        wrong = await client.post(
            "/api/v1/auth/password",
            headers=headers,
            json={"current_password": "not my password", "new_password": NEW_PASSWORD},
        )
        assert wrong.status_code == 401
        weak = await client.post(
            "/api/v1/auth/password",
            headers=headers,
            json={"current_password": DEFAULT_PASSWORD, "new_password": "short"},
        )
        assert weak.status_code == 422
        done = await client.post(
            "/api/v1/auth/password",
            headers=headers,
            json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert done.status_code == 204, done.text
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
        assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
        old = await client.post(
            "/api/v1/auth/login",
            data={"username": "self@example.com", "password": DEFAULT_PASSWORD},
        )
        assert old.status_code == 401
        await login(client, "self@example.com", NEW_PASSWORD)


async def test_an_admin_resets_a_password(ctx: AppContext, api: str) -> None:
    admin = await make_user(ctx, role=Role.admin)
    user = await make_user(ctx, email="forgot@example.com", role=Role.operator)
    async with httpx.AsyncClient(base_url=api) as client:
        admin_headers = await auth_headers(client, admin.email)
        user_tokens = await login(client, user.email)
        chosen = await client.post(
            f"/api/v1/users/{user.id}/password",
            headers=admin_headers,
            json={"password": NEW_PASSWORD},
        )
        assert chosen.status_code == 200, chosen.text
        assert chosen.json()["generated_password"] is None
        me = await client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {user_tokens['access_token']}"}
        )
        assert me.status_code == 401
        await login(client, user.email, NEW_PASSWORD)
        generated = await client.post(
            f"/api/v1/users/{user.id}/password", headers=admin_headers, json={}
        )
        assert generated.status_code == 200
        await login(client, user.email, generated.json()["generated_password"])
        user_headers = await auth_headers(
            client, user.email, generated.json()["generated_password"]
        )
        forbidden = await client.post(
            f"/api/v1/users/{admin.id}/password", headers=user_headers, json={}
        )
        assert forbidden.status_code == 403
        missing = await client.post("/api/v1/users/999999/password", headers=admin_headers, json={})
        assert missing.status_code == 404


def _cli(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MAGFLOW_DATABASE_URL": settings.database_url,
        "MAGFLOW_VAR_DIR": str(settings.var_dir),
        "MAGFLOW_SECRET_KEY": settings.resolved_secret_key(),
        "MAGFLOW_REDIS_URL": settings.redis_url or "",
        "MAGFLOW_REDIS_PREFIX": settings.redis_prefix,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "magflow", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


async def test_cli_reset_password_and_unlock(ctx: AppContext, api: str) -> None:
    user = await make_user(ctx, email="cli@example.com")
    result = _cli(
        ctx.settings,
        "users",
        "reset-password",
        "CLI@example.com",
        "--password-stdin",
        stdin=NEW_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert NEW_PASSWORD not in result.stdout
    async with httpx.AsyncClient(base_url=api) as client:
        await login(client, user.email, NEW_PASSWORD)
        for _ in range(ctx.settings.login_max_failures + 1):
            await client.post(
                "/api/v1/auth/login", data={"username": user.email, "password": "nope-nope"}
            )
        locked = await client.post(
            "/api/v1/auth/login", data={"username": user.email, "password": NEW_PASSWORD}
        )
        assert locked.status_code == 429
        result = _cli(ctx.settings, "users", "unlock", user.email)
        if ctx.settings.redis_url:
            assert result.returncode == 0, result.stderr
            await login(client, user.email, NEW_PASSWORD)
        else:  # the server's memory cannot be reached from another process: said so
            assert result.returncode == 1
            assert "/unlock" in result.stdout + result.stderr
    missing = _cli(
        ctx.settings, "users", "reset-password", "nobody@example.com", "--generate-password"
    )
    assert missing.returncode == 1 and "no user" in missing.stdout + missing.stderr
