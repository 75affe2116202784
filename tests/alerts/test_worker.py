"""The alerts timer runs in the app's job runner, on its own: an SMTP server that never answers
holds up neither a sync run nor a request."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from magflow.alerts import service
from magflow.alerts.models import AlertDelivery, RuleKind
from magflow.alerts.schemas import RuleCreate, WebhookCreate
from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag.codes import OrderStatus
from magflow.jobs.durable import run_worker
from magflow.orders.models import EmagOrder
from magflow.settings import JobBackend, Settings
from magflow.sync.wiring import build_engine
from tests.alerts.conftest import Receiver
from tests.conftest import Backend
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers
from tests.support.simulation import Accounts


@pytest.fixture
def silent_smtp() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never says a word: an SMTP
    server that hangs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def settings(settings: Settings, backend: Backend, silent_smtp: int) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": silent_smtp,
            "smtp_starttls": False,
            "smtp_timeout_seconds": 120.0,
            "schedules_enabled": True,  # the timers run (no account has a sync to repeat yet)
            "alerts_schedule": "1s",
        }
    )


async def wait_for(predicate: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(300):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_hanging_smtp_server_blocks_no_sync_and_no_request(
    ctx: AppContext, accounts: Accounts, api: str
) -> None:
    operator = await make_user(ctx, role=Role.operator)
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        await service.set_email_opt_in(session, operator.id, True)
        await service.create_rule(
            session,
            RuleCreate(name="ack", kind=RuleKind.order_unacknowledged, threshold=5),
            "test",
        )
        session.add(
            EmagOrder(
                account_id=accounts.main.id,
                emag_id=1,
                status=int(OrderStatus.NEW),
                order_date=now - timedelta(hours=1),
                raw={},
                last_seen_at=now,
            )
        )
        await session.commit()

    async def sending() -> bool:
        async with ctx.db.session() as session:
            rows = (await session.execute(select(AlertDelivery))).scalars().all()
            return any(d.claimed_until is not None for d in rows)

    # The app's alerts timer raised the alert and is now waiting on the silent SMTP server.
    await wait_for(sending, "an alert e-mail being sent")
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        client.headers.update(await auth_headers(client, operator.email))
        started = await client.post(
            "/api/v1/emag/enhanced/sync/orders", json={"account": "main", "mode": "full"}
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["runs"][0]["id"]

        async def finished() -> bool:
            run = (await client.get(f"/api/v1/emag/sync-logs/{run_id}")).json()
            return run["status"] not in ("queued", "running")

        await wait_for(finished, "the sync run")
        run = (await client.get(f"/api/v1/emag/sync-logs/{run_id}")).json()
        assert run["status"] == "completed"
        log = (await client.get("/api/v1/alerts/deliveries")).json()
        assert log["items"] and all(d["status"] == "pending" for d in log["items"])
        assert log["items"][-1]["recipient"] == operator.email


@pytest.fixture
def postgresql_only(backend: Backend) -> None:
    if backend.name != "postgresql":
        pytest.skip("procrastinate runs on PostgreSQL only")


async def test_with_procrastinate_the_worker_delivers_the_alerts(
    postgresql_only: None,
    ctx: AppContext,
    make_ctx: Callable[..., AppContext],
    receiver: Receiver,
) -> None:
    """``MAGFLOW_JOBS=procrastinate``: the alerts timer runs in the worker (``run_worker``, as
    ``magflow worker`` runs it), not in API processes."""
    account = await make_account(ctx, name="shop", base_url="http://127.0.0.1:9")
    async with ctx.db.session() as session:
        webhook, _ = await service.create_webhook(
            session,
            ctx.cipher,
            WebhookCreate(name="ops", url=receiver.url),  # type: ignore[arg-type]
        )
        await service.create_rule(
            session,
            RuleCreate(name="late", kind=RuleKind.late_shipment, webhook_ids=[webhook.id]),
            "test",
        )
        now = datetime.now(UTC)
        session.add(
            EmagOrder(
                account_id=account.id,
                emag_id=77,
                status=int(OrderStatus.FINALIZED),
                order_date=now,
                late_shipment=True,
                raw={},
                last_seen_at=now,
            )
        )
        await session.commit()
    worker_ctx = make_ctx(jobs=JobBackend.procrastinate, smtp_host=None)
    worker = asyncio.create_task(run_worker(worker_ctx, build_engine(worker_ctx)))
    try:

        async def delivered() -> bool:
            assert not worker.done(), worker
            return bool(receiver.requests)

        await wait_for(delivered, "the worker to post the alert")
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    [(_, body)] = receiver.requests
    assert json.loads(body)["text"] == "shop: order 77 is flagged by eMAG as shipped late"
