"""No secret in logs or responses: seller passwords, user passwords, the secret key, tokens."""

from __future__ import annotations

import logging

import httpx
import pytest

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.sync.models import SyncKind, SyncMode
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.support.auth import login
from tests.support.simulation import Accounts, sync


async def test_a_day_of_work_logs_no_secret(
    ctx: AppContext, api: str, accounts: Accounts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await make_user(ctx, role=Role.admin)
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        tokens = await login(client, admin.email)
        bad = await client.post(
            "/api/v1/auth/login",
            data={"username": admin.email, "password": "wrong-" + DEFAULT_PASSWORD},
        )
        assert bad.status_code == 401
        responses = [
            await client.get(path, headers={"Authorization": f"Bearer {tokens['access_token']}"})
            for path in ("/api/v1/accounts", "/api/v1/auth/me", "/health")
        ]
    await sync(ctx, accounts.main, SyncKind.offers)
    await sync(ctx, accounts.fbe, SyncKind.orders, SyncMode.full)

    secrets = {
        "seller password (main)": "main-sim-pw-7c41e2",
        "seller password (fbe)": "fbe-sim-pw-2d98b0",
        "user password": DEFAULT_PASSWORD,
        "secret key": ctx.settings.resolved_secret_key(),
        "refresh token": tokens["refresh_token"],
    }
    logged = "\n".join(
        record.getMessage() + (f" {record.exc_text}" if record.exc_text else "")
        for record in caplog.records
    )
    assert logged  # something was logged, so the check means something
    for name, secret in secrets.items():
        assert secret not in logged, f"{name} appears in the logs"
        for response in responses:
            assert secret not in response.text, f"{name} appears in {response.url}"
