"""The accounts page: each account's callback URLs (and their rotation) and its auto-acknowledge
toggle, through the dashboard's own requests (htmx fragments)."""

from __future__ import annotations

import httpx

from magflow.accounts import service as accounts_service
from magflow.auth.models import Role
from magflow.context import AppContext
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.support.simulation import Accounts

HTMX = {"X-MagFlow-CSRF": "1", "HX-Request": "true"}


async def test_the_accounts_page_shows_callback_urls_and_toggles_auto_acknowledge(
    ctx: AppContext, api: str, accounts: Accounts
) -> None:
    admin = await make_user(ctx, role=Role.admin)
    async with httpx.AsyncClient(base_url=api) as client:
        login = await client.post(
            "/login", data={"email": admin.email, "password": DEFAULT_PASSWORD}
        )
        assert login.status_code in (200, 303), login.text
        page = await client.get("/admin/accounts/main/callbacks", headers=HTMX)
        assert page.status_code == 200
        assert f"{api}/callbacks/emag/" in page.text and "/order</code>" in page.text
        rotated = await client.post("/admin/accounts/main/callbacks/rotate", headers=HTMX)
        assert rotated.status_code == 200 and "New secret" in rotated.text
        assert rotated.text != page.text
        toggled = await client.post(
            "/admin/accounts/main/auto-acknowledge", data={"enabled": "true"}, headers=HTMX
        )
        assert toggled.status_code == 200 and "turned on" in toggled.text
    async with ctx.db.session() as session:
        account = await accounts_service.get_account(session, accounts.main.id)
        assert account.auto_acknowledge is True
