from __future__ import annotations

import httpx

from magflow.audit.service import Actor, Auditor, Outcome, scrub
from magflow.auth.models import Role
from magflow.context import AppContext
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers


def test_secrets_are_masked() -> None:
    body = {"data": [{"id": 1, "password": "x", "nested": {"api_token": "y", "ok": 2}}]}
    assert scrub(body) == {
        "data": [{"id": 1, "password": "***", "nested": {"api_token": "***", "ok": 2}}]
    }


async def test_audit_listing_is_admin_only_filtered_and_paginated(
    ctx: AppContext, api: str
) -> None:
    account = await make_account(ctx, name="shop")
    auditor = Auditor(
        ctx.db, Actor(7, "op@example.com"), account_id=account.id, account_name="shop"
    )
    for n in range(5):
        await auditor.record(
            action="orders.status",
            emag_route="order/save",
            request={"data": [{"id": n}]},
            outcome=Outcome(status_code=200, success=n % 2 == 0, messages=[f"m{n}"]),
            target=f"order:{n}",
        )
    await Auditor(ctx.db, Actor(None, "system")).record(
        action="bulk.offers",
        emag_route="offer/save",
        request=None,
        outcome=Outcome(
            status_code=None, success=False, messages=["timeout"], error_kind="transient"
        ),
    )
    admin = await make_user(ctx, role=Role.admin)
    operator = await make_user(ctx, role=Role.operator)
    async with httpx.AsyncClient(base_url=api) as client:
        assert (await client.get("/api/v1/audit")).status_code == 401
        client.headers.update(await auth_headers(client, operator.email))
        assert (await client.get("/api/v1/audit")).status_code == 403
        client.headers.update(await auth_headers(client, admin.email))
        page = (await client.get("/api/v1/audit", params={"limit": 2, "skip": 1})).json()
        assert page["total"] == 6 and len(page["items"]) == 2
        shop = (await client.get("/api/v1/audit", params={"account": "shop"})).json()
        assert shop["total"] == 5
        assert [e["target"] for e in shop["items"]] == [f"order:{n}" for n in range(4, -1, -1)]
        failed = (await client.get("/api/v1/audit", params={"success": False})).json()
        assert failed["total"] == 3
        by_user = (
            await client.get("/api/v1/audit", params={"user_id": 7, "action": "orders.status"})
        ).json()
        assert by_user["total"] == 5 and by_user["items"][0]["user_email"] == "op@example.com"
        # Without a zone: the account's platform time (magflow.common.dates), not a 422.
        naive = await client.get("/api/v1/audit", params={"date_from": "2026-01-01T00:00:00"})
        assert naive.status_code == 200 and naive.json()["total"] == 6
        plain = await client.get("/api/v1/audit", params={"date_to": "2000-01-01"})
        assert plain.status_code == 200 and plain.json()["total"] == 0
        garbage = await client.get("/api/v1/audit", params={"date_from": "yesterday"})
        assert garbage.status_code == 422 and "2026-11-20" in garbage.text
