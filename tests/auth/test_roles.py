from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from magflow.app import create_app
from magflow.auth.dependencies import Operator
from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.settings import Settings
from tests.factories import make_user
from tests.support.auth import auth_headers
from tests.support.servers import UvicornThread


@pytest.fixture
def app_with_operator_route(settings: Settings) -> Iterator[str]:
    app: FastAPI = create_app(settings)

    @app.post("/test-only/operator-action")
    async def operator_action(user: Operator) -> dict[str, str]:
        return {"done_by": user.email}

    with UvicornThread(app) as server:
        yield server.url


@pytest.mark.parametrize(
    ("role", "operator_status", "admin_status"),
    [(Role.viewer, 403, 403), (Role.operator, 200, 403), (Role.admin, 200, 201)],
)
async def test_roles_are_ranked(
    ctx: AppContext,
    app_with_operator_route: str,
    role: Role,
    operator_status: int,
    admin_status: int,
) -> None:
    user = await make_user(ctx, role=role)
    async with httpx.AsyncClient(base_url=app_with_operator_route) as client:
        headers = await auth_headers(client, user.email)
        operator = await client.post("/test-only/operator-action", headers=headers)
        assert operator.status_code == operator_status
        admin = await client.post(
            "/api/v1/accounts",
            headers=headers,
            json={
                "name": f"ro-{role.value}",
                "platform": "ro",
                "account_type": "main",
                "username": "u",
                "password": "p",
            },
        )
        assert admin.status_code == admin_status, admin.text
        if admin_status == 403:
            assert "needs the admin role" in admin.json()["detail"]
