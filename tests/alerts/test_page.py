"""The dashboard's Alerts page, through the app under uvicorn: every user's opt-in, the admins'
rules and webhooks (the secret shown once), the delivery log for operators and admins."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from magflow.alerts.delivery import deliver_due
from magflow.alerts.worker import evaluate
from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.orders.models import EmagOrder
from tests.factories import DEFAULT_PASSWORD, make_account, make_user

CSRF = {"X-MagFlow-CSRF": "1"}


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    login = await client.post("/login", data={"email": email, "password": DEFAULT_PASSWORD})
    assert login.status_code == 303


async def test_alerts_page(ctx: AppContext, api: str) -> None:
    shop = await make_account(ctx, name="shop")
    admin = await make_user(ctx, role=Role.admin)
    viewer = await make_user(ctx, role=Role.viewer)
    async with httpx.AsyncClient(base_url=api) as client:
        await sign_in(client, viewer.email)
        page = await client.get("/alerts")
        assert page.status_code == 200 and 'href="/alerts"' in page.text
        assert "Alerts are not e-mailed to you" in page.text
        assert "Delivery log" not in page.text and "Add a webhook" not in page.text
        assert (
            await client.post("/alerts/subscription", data={"email": "true"})
        ).status_code == 403
        on = await client.post("/alerts/subscription", data={"email": "true"}, headers=CSRF)
        assert f"Alerts are e-mailed to <strong>{viewer.email}</strong>" in on.text
        refused = await client.post(
            "/alerts/rules", data={"name": "x", "kind": "late_shipment"}, headers=CSRF
        )
        assert refused.status_code == 403

    async with httpx.AsyncClient(base_url=api) as client:
        await sign_in(client, admin.email)
        # A closed port: the webhook's deliveries fail and wait for their next attempt.
        created = await client.post(
            "/alerts/webhooks",
            data={"name": "ops", "url": "http://127.0.0.1:9/hook/s3cr3t"},
            headers=CSRF,
        )
        secret = re.search(
            r'data-testid="webhook-secret">\s*Signing secret of ops: <code>([^<]+)', created.text
        )
        assert secret is not None
        hook_id = re.search(
            r'<option value="(\d+)">ops</option>', (await client.get("/alerts")).text
        )
        assert hook_id is not None
        made = await client.post(
            "/alerts/rules",
            data={"name": "late", "kind": "late_shipment", "webhook_ids": [hook_id.group(1)]},
            headers=CSRF,
        )
        assert "Rule late added." in made.text and 'data-rule="late"' in made.text
        async with ctx.db.session() as session:
            now = datetime.now(UTC)
            session.add(
                EmagOrder(
                    account_id=shop.id,
                    emag_id=4242,
                    status=3,
                    order_date=now,
                    late_shipment=True,
                    raw={},
                    last_seen_at=now,
                )
            )
            await session.commit()
        await evaluate(ctx)
        await deliver_due(ctx)
        page = (await client.get("/alerts")).text
        assert secret.group(1) not in page and "s3cr3t" not in page
        assert "shop: order 4242 is flagged by eMAG as shipped late" in page
        assert "webhook unreachable" in page and "webhook: ops" in page
        failed_only = (await client.get("/alerts", params={"status": "failed"})).text
        assert "order 4242" not in failed_only
