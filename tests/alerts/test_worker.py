"""The alerts timer runs in the app's job runner, on its own: an SMTP server that never answers
holds up neither a sync run nor a request."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from magflow.alerts import service
from magflow.alerts.models import AlertDelivery, RuleKind
from magflow.alerts.schemas import RuleCreate
from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag.codes import OrderStatus
from magflow.orders.models import EmagOrder
from magflow.settings import Settings
from tests.conftest import Backend
from tests.factories import make_user
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
