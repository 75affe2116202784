"""Alerts: the API (rules, webhooks, opt-in, audit), what each rule kind finds, deduplication,
delivery by e-mail (a real SMTP server) and signed webhooks (a real receiver), retries with
backoff, and permanent failures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from magflow.alerts import service
from magflow.alerts.delivery import backoff, deliver_due
from magflow.alerts.models import AlertDelivery, AlertEvent, AlertRule, AlertWebhook, RuleKind
from magflow.alerts.schemas import RuleCreate, WebhookCreate
from magflow.alerts.worker import evaluate
from magflow.audit.models import AuditLog
from magflow.auth.models import Role
from magflow.bulk.models import BulkOperation, OperationStatus
from magflow.context import AppContext
from magflow.emag.codes import OrderStatus, OrderType
from magflow.orders.models import EmagOrder
from magflow.settings import Settings
from magflow.sync.models import SyncLog, SyncStatus
from tests.alerts.conftest import Mailbox, Receiver
from tests.conftest import Backend
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers

_ids = itertools.count(7_700_001)


@pytest.fixture
def settings(settings: Settings, backend: Backend, smtp: Mailbox) -> Settings:
    return settings.model_copy(
        update={"smtp_host": smtp.host, "smtp_port": smtp.port, "smtp_starttls": False}
    )


async def store_order(ctx: AppContext, account_id: int, **fields: Any) -> EmagOrder:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "status": int(OrderStatus.IN_PROGRESS),
        "order_type": int(OrderType.SELLER),
        "order_date": now - timedelta(hours=1),
        "raw": {},
        "last_seen_at": now,
        **fields,
    }
    async with ctx.db.session() as session:
        order = EmagOrder(account_id=account_id, emag_id=next(_ids), **values)
        session.add(order)
        await session.commit()
        return order


async def add_rule(ctx: AppContext, kind: RuleKind, **fields: Any) -> AlertRule:
    async with ctx.db.session() as session:
        rule = await service.create_rule(
            session, RuleCreate(name=kind.value, kind=kind, **fields), "test"
        )
        await session.commit()
        return rule


async def add_webhook(ctx: AppContext, url: str) -> tuple[AlertWebhook, str]:
    async with ctx.db.session() as session:
        webhook, secret = await service.create_webhook(
            session,
            ctx.cipher,
            WebhookCreate(name="ops", url=url),  # type: ignore[arg-type]
        )
        await session.commit()
        return webhook, secret


async def deliveries(ctx: AppContext) -> list[AlertDelivery]:
    async with ctx.db.session() as session:
        query = select(AlertDelivery).order_by(AlertDelivery.id)
        return list((await session.execute(query)).scalars())


async def test_rules_webhooks_and_opt_in_through_the_api(
    ctx: AppContext, api: str, receiver: Receiver
) -> None:
    admin = await make_user(ctx, role=Role.admin)
    operator = await make_user(ctx, role=Role.operator)
    await make_account(ctx, name="shop")
    async with httpx.AsyncClient(base_url=api) as client:
        client.headers.update(await auth_headers(client, operator.email))
        rule = {"name": "slow", "kind": "order_unacknowledged", "threshold": 15}
        assert (await client.post("/api/v1/alerts/rules", json=rule)).status_code == 403
        assert (await client.get("/api/v1/alerts/webhooks")).status_code == 403
        assert (await client.get("/api/v1/alerts/deliveries")).json()["total"] == 0
        # Any user opts in (or out) for themselves.
        me = (await client.put("/api/v1/alerts/subscription", json={"email": True})).json()
        assert me == {"email": True, "address": operator.email, "smtp_configured": True}
        assert (await client.get("/api/v1/alerts/subscription")).json()["email"] is True

        client.headers.update(await auth_headers(client, admin.email))
        created = await client.post(
            "/api/v1/alerts/webhooks", json={"name": "slack", "url": receiver.url}
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        assert len(hook["secret"]) >= 40 and hook["url_hint"].startswith("http://127.0.0.1:")
        listed = (await client.get("/api/v1/alerts/webhooks")).text
        assert hook["secret"] not in listed and "T0ps3cr3tPath" not in listed
        again = await client.post("/api/v1/alerts/webhooks", json={"name": "slack", "url": api})
        assert again.status_code == 409

        made = await client.post(
            "/api/v1/alerts/rules",
            json={**rule, "account": "shop", "webhook_ids": [hook["id"]]},
        )
        assert made.status_code == 201, made.text
        assert made.json()["threshold_unit"] == "minutes"
        rule_id = made.json()["id"]
        refusals = [
            {"name": "x", "kind": "late_shipment", "threshold": 3},  # takes none
            {"name": "x", "kind": "shipping_due", "threshold": 100_000},  # beyond 14 days
            {"name": "x", "kind": "bulk_failures", "account": "shop"},  # spans accounts
            {"name": "x", "kind": "sync_failed", "account": "nope"},
            {"name": "x", "kind": "sync_failed", "webhook_ids": [999]},
            {"name": "x", "kind": "nothing"},
        ]
        for body in refusals:
            refused = await client.post("/api/v1/alerts/rules", json=body)
            assert refused.status_code == 422, (body, refused.text)
        changed = await client.patch(
            f"/api/v1/alerts/rules/{rule_id}", json={"enabled": False, "all_accounts": True}
        )
        assert changed.json()["enabled"] is False and changed.json()["account_id"] is None
        rotated = await client.patch(
            f"/api/v1/alerts/webhooks/{hook['id']}", json={"rotate_secret": True}
        )
        assert rotated.json()["secret"] not in (None, hook["secret"])
        renamed = await client.patch(f"/api/v1/alerts/webhooks/{hook['id']}", json={"name": "ops"})
        assert renamed.json()["secret"] is None and renamed.json()["name"] == "ops"
        # Deleting a webhook takes it out of the rules.
        assert (await client.delete(f"/api/v1/alerts/webhooks/{hook['id']}")).status_code == 204
        assert (await client.get(f"/api/v1/alerts/rules/{rule_id}")).json()["webhook_ids"] == []
        assert (await client.delete(f"/api/v1/alerts/rules/{rule_id}")).status_code == 204
        assert (await client.get(f"/api/v1/alerts/rules/{rule_id}")).status_code == 404

    async with ctx.db.session() as session:
        audit = (await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars().all()
    assert [a.action for a in audit] == [
        "alerts.webhook.create",
        "alerts.rule.create",
        "alerts.rule.update",
        "alerts.webhook.update",
        "alerts.webhook.update",
        "alerts.webhook.delete",
        "alerts.rule.delete",
    ]
    assert all(a.user_email == admin.email for a in audit)
    assert "T0ps3cr3tPath" not in json.dumps([a.request for a in audit])


async def test_each_kind_finds_its_subjects_once(ctx: AppContext) -> None:
    shop = await make_account(ctx, name="shop")
    other = await make_account(ctx, name="other")
    now = datetime.now(UTC)
    old = now - timedelta(hours=2)
    stale_new = await store_order(ctx, shop.id, status=int(OrderStatus.NEW), order_date=old)
    await store_order(ctx, shop.id, status=int(OrderStatus.NEW), order_date=now)  # too recent
    await store_order(  # eMAG fulfils FBE orders: never the seller's to acknowledge
        ctx, shop.id, status=int(OrderStatus.NEW), order_date=old, order_type=int(OrderType.FBE)
    )
    await store_order(ctx, other.id, status=int(OrderStatus.NEW), order_date=old)  # other shop
    due = await store_order(ctx, shop.id, maximum_date_for_shipment=now + timedelta(hours=3))
    await store_order(ctx, shop.id, maximum_date_for_shipment=now + timedelta(hours=30))
    late = await store_order(ctx, other.id, late_shipment=True)
    cancel = await store_order(ctx, shop.id, cancellation_requested=True)
    await store_order(  # already cancelled: nothing left to do
        ctx, shop.id, cancellation_requested=True, status=int(OrderStatus.CANCELLED)
    )
    rules = {
        kind: await add_rule(ctx, kind, **fields)
        for kind, fields in [
            (RuleKind.order_unacknowledged, {"account": "shop", "threshold": 30}),
            (RuleKind.shipping_due, {"threshold": 4}),
            (RuleKind.late_shipment, {}),
            (RuleKind.cancellation_request, {}),
            (RuleKind.sync_failed, {"account": "shop"}),
            (RuleKind.ip_refused, {}),
            (RuleKind.bulk_failures, {}),
        ]
    }
    ended = now + timedelta(seconds=1)  # after the rules were made: history is not alerted on
    async with ctx.db.session() as session:
        ip = SyncLog(
            account_id=shop.id,
            kind="orders",
            mode="full",
            status=SyncStatus.failed.value,
            finished_at=ended,
            errors=[{"messages": ["ERROR: Invalid vendor ip [203.0.113.9]"]}],
        )
        partial = SyncLog(
            account_id=shop.id,
            kind="offers",
            mode="full",
            status=SyncStatus.partial.value,
            finished_at=ended,
            errors=[{"message": "page 3: timeout"}],
        )
        fine = SyncLog(
            account_id=shop.id,
            kind="offers",
            mode="full",
            status=SyncStatus.completed.value,
            finished_at=ended,
        )
        bulk = BulkOperation(
            status=OperationStatus.completed_with_errors.value,
            total_items=3,
            succeeded_items=1,
            failed_items=2,
            finished_at=ended,
        )
        session.add_all([ip, partial, fine, bulk])
        await session.commit()

    raised = await evaluate(ctx, now + timedelta(seconds=2))
    async with ctx.db.session() as session:
        events = (await session.execute(select(AlertEvent))).scalars().all()
    found = {(e.rule_id, e.subject) for e in events}
    assert len(raised) == len(events) == len(found)
    assert found == {
        (rules[RuleKind.order_unacknowledged].id, f"order:{stale_new.id}"),
        (rules[RuleKind.shipping_due].id, f"order:{due.id}"),
        (rules[RuleKind.late_shipment].id, f"order:{late.id}"),
        (rules[RuleKind.cancellation_request].id, f"order:{cancel.id}"),
        (rules[RuleKind.sync_failed].id, f"sync_run:{ip.id}"),
        (rules[RuleKind.sync_failed].id, f"sync_run:{partial.id}"),
        (rules[RuleKind.ip_refused].id, f"account:{shop.id}:ip_refused"),
        (rules[RuleKind.bulk_failures].id, f"bulk:{bulk.id}"),
    }
    texts = {e.subject: e.text for e in events if e.kind == "ip_refused"}
    assert "not whitelisted" in texts[f"account:{shop.id}:ip_refused"]
    # Nothing changed: nothing new. No recipient opted in: no delivery either.
    assert await evaluate(ctx, now + timedelta(seconds=3)) == []
    assert await deliveries(ctx) == []
    # eMAG moves the deadline: the same order alerts again (a new version).
    async with ctx.db.session() as session:
        row = await session.get(EmagOrder, due.id)
        assert row is not None
        row.maximum_date_for_shipment = now + timedelta(hours=2)
        await session.commit()
    again = await evaluate(ctx, now + timedelta(seconds=4))
    assert len(again) == 1


async def test_alerts_are_mailed_and_posted_signed(
    ctx: AppContext, smtp: Mailbox, receiver: Receiver
) -> None:
    shop = await make_account(ctx, name="shop")
    subscriber = await make_user(ctx, role=Role.viewer)
    await make_user(ctx, role=Role.admin)  # not opted in: no e-mail
    gone = await make_user(ctx, role=Role.operator, is_active=False)
    async with ctx.db.session() as session:
        await service.set_email_opt_in(session, subscriber.id, True)
        await service.set_email_opt_in(session, gone.id, True)  # disabled users get nothing
        await session.commit()
    webhook, secret = await add_webhook(ctx, receiver.url)
    await add_rule(ctx, RuleKind.cancellation_request, webhook_ids=[webhook.id])
    order = await store_order(ctx, shop.id, cancellation_requested=True)

    assert len(await evaluate(ctx)) == 1
    # Two deliverers at once (two processes' timers): each delivery is leased by one of them.
    first, second = await asyncio.gather(deliver_due(ctx), deliver_due(ctx))
    assert not set(first) & set(second)
    assert sorted({**first, **second}.values()) == ["delivered", "delivered"]

    [(sender, recipients, message)] = smtp.messages
    assert recipients == [subscriber.email] and sender == ctx.settings.smtp_from
    assert f"shop: order {order.emag_id} has a cancellation request" in message["Subject"]

    [(headers, body)] = receiver.requests
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-magflow-signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["text"].startswith(f"shop: order {order.emag_id} has a cancellation request")
    assert payload["alert"]["kind"] == "cancellation_request"
    assert payload["alert"]["details"]["emag_order_id"] == order.emag_id
    # Delivered once: nothing is due any more, and evaluating again raises nothing.
    assert await deliver_due(ctx) == {}
    assert await evaluate(ctx) == []
    assert len(smtp.messages) == 1 and len(receiver.requests) == 1


async def test_failed_deliveries_are_retried_with_backoff(
    ctx: AppContext, receiver: Receiver
) -> None:
    shop = await make_account(ctx, name="shop")
    webhook, _ = await add_webhook(ctx, receiver.url)
    await add_rule(ctx, RuleKind.late_shipment, notify_email=False, webhook_ids=[webhook.id])
    await store_order(ctx, shop.id, late_shipment=True)
    receiver.statuses += [500, 503]
    now = datetime.now(UTC)
    await evaluate(ctx, now)

    assert list((await deliver_due(ctx, now)).values()) == ["pending"]
    [first] = await deliveries(ctx)
    assert first.attempts == 1 and "HTTP 500" in (first.last_error or "")
    assert first.next_attempt_at == now + backoff(ctx.settings.alerts_retry_seconds, 1)
    assert await deliver_due(ctx, now + timedelta(seconds=1)) == {}  # not due yet
    second_try = first.next_attempt_at
    assert list((await deliver_due(ctx, second_try)).values()) == ["pending"]
    [second] = await deliveries(ctx)
    # Exponential: twice the first wait.
    assert second.next_attempt_at - second_try == 2 * (second_try - now)
    assert list((await deliver_due(ctx, second.next_attempt_at)).values()) == ["delivered"]
    [done] = await deliveries(ctx)
    assert done.attempts == 3 and done.last_error is None and done.delivered_at is not None
    assert len(receiver.requests) == 3
    # One delivery id across its attempts, for receivers that drop duplicates.
    assert {h["x-magflow-delivery"] for h, _ in receiver.requests} == {str(done.id)}


async def test_a_refusing_webhook_fails_at_once_and_attempts_run_out(
    ctx: AppContext, receiver: Receiver
) -> None:
    shop = await make_account(ctx, name="shop")
    ctx.settings.alerts_max_attempts = 2
    webhook, _ = await add_webhook(ctx, receiver.url)
    await add_rule(ctx, RuleKind.late_shipment, notify_email=False, webhook_ids=[webhook.id])
    await add_rule(ctx, RuleKind.cancellation_request, notify_email=False, webhook_ids=[webhook.id])
    await store_order(ctx, shop.id, late_shipment=True)
    await evaluate(ctx)
    receiver.statuses += [410]  # gone: retrying cannot help
    assert list((await deliver_due(ctx)).values()) == ["failed"]
    await store_order(ctx, shop.id, cancellation_requested=True)
    now = datetime.now(UTC)
    await evaluate(ctx, now)
    receiver.statuses += [502, 502]
    assert list((await deliver_due(ctx, now)).values()) == ["pending"]
    assert list((await deliver_due(ctx, now + timedelta(hours=1))).values()) == ["failed"]
    gone, out = await deliveries(ctx)
    assert (gone.attempts, out.attempts) == (1, 2)
    assert "HTTP 410" in (gone.last_error or "") and "HTTP 502" in (out.last_error or "")


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(30, n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30, 20) == timedelta(hours=1)
