from __future__ import annotations

import httpx
from sqlalchemy import text

from magflow.accounts import service
from magflow.auth.models import Role
from magflow.common.crypto import CredentialCipher
from magflow.context import AppContext
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers

SELLER_PASSWORD = "s3ller-Pa55word-that-must-not-leak"


async def test_password_is_encrypted_at_rest_and_decrypts(ctx: AppContext) -> None:
    account = await make_account(ctx, name="ro-main", password=SELLER_PASSWORD)
    async with ctx.db.session() as session:
        stored = (
            await session.execute(
                text("SELECT password_encrypted FROM emag_accounts WHERE id = :id"),
                {"id": account.id},
            )
        ).scalar_one()
        row = await service.get_account(session, "ro-main")
        creds = service.credentials(ctx.cipher, row)
    assert SELLER_PASSWORD.encode() not in bytes(stored)
    assert creds.password == SELLER_PASSWORD
    assert SELLER_PASSWORD not in repr(creds)
    # A different secret key cannot read it.
    other = CredentialCipher("another-installation-key")
    try:
        other.decrypt(bytes(stored))
    except ValueError as exc:
        assert "MAGFLOW_SECRET_KEY" in str(exc)
    else:
        raise AssertionError("decrypted with the wrong key")


async def test_api_never_returns_the_password(ctx: AppContext, api: str) -> None:
    admin = await make_user(ctx, role=Role.admin)
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, admin.email)
        created = await client.post(
            "/api/v1/accounts",
            headers=headers,
            json={
                "name": "bg-fbe",
                "platform": "bg",
                "account_type": "fbe",
                "username": "seller-bg",
                "password": SELLER_PASSWORD,
                "base_url": "http://127.0.0.1:9/api-3",
            },
        )
        assert created.status_code == 201, created.text
        assert SELLER_PASSWORD not in created.text
        listed = await client.get("/api/v1/accounts", headers=headers)
        assert listed.status_code == 200
        assert [a["name"] for a in listed.json()] == ["bg-fbe"]
        assert SELLER_PASSWORD not in listed.text
        assert listed.json()[0]["base_url"] == "http://127.0.0.1:9/api-3"

        duplicate = await client.post(
            "/api/v1/accounts",
            headers=headers,
            json={
                "name": "bg-fbe",
                "platform": "bg",
                "account_type": "fbe",
                "username": "x",
                "password": "y",
            },
        )
        assert duplicate.status_code == 409
        bad = await client.post(
            "/api/v1/accounts",
            headers=headers,
            json={
                "name": "x",
                "platform": "pl",
                "account_type": "main",
                "username": "x",
                "password": "y",
            },
        )
        assert bad.status_code == 422
        assert "platform" in bad.text

        assert (await client.delete("/api/v1/accounts/bg-fbe", headers=headers)).status_code == 204
        missing = await client.delete("/api/v1/accounts/bg-fbe", headers=headers)
        assert missing.status_code == 404
