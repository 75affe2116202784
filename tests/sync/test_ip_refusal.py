"""eMAG's refusal of a server IP the seller did not whitelist (issue 13, point 10):
``ERROR: Invalid vendor ip [x.x.x.x]`` (docs/emag-protocol.md, "Answers and errors") fails a run at
once, pauses the account's schedules, and the status API and the dashboard say what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag.errors import IP_WHITELIST_HINT
from magflow.emag_sim import SimulatorServer
from magflow.jobs.maintenance import Maintenance
from magflow.jobs.schedule import IP_REFUSAL_PAUSE
from magflow.sync.models import SyncKind, SyncLog
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.support.auth import auth_headers
from tests.support.simulation import Accounts, set_faults, sync

REFUSAL = "ERROR: Invalid vendor ip [127.0.0.1]"


async def test_an_ip_refusal_fails_the_run_at_once_pauses_schedules_and_says_what_to_do(
    ctx: AppContext, api: str, sim: SimulatorServer, accounts: Accounts
) -> None:
    await set_faults(sim, vendor_ip_refused=[accounts.main.username])

    run = await sync(ctx, accounts.main, SyncKind.orders)
    # One call (the first count), no retry, eMAG's own message and the seller's hint.
    assert run.status == "failed"
    assert (run.api_calls, run.retries) == (1, 0)
    entry = run.errors[-1]
    assert entry["kind"] == "EmagIpNotWhitelistedError"
    assert entry["messages"] == [REFUSAL]
    assert entry["hint"] == IP_WHITELIST_HINT
    assert "Profile > API settings" in IP_WHITELIST_HINT
    # The other account (its IP is not refused) is untouched.
    other = await sync(ctx, accounts.fbe, SyncKind.offers)
    assert other.status == "completed", other.errors

    # The schedules: the orders schedule (5 min) is due, but the refusal pauses the account.
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        await session.execute(
            update(SyncLog)
            .where(SyncLog.id == run.id)
            .values(created_at=now - timedelta(hours=2), finished_at=now - timedelta(minutes=10))
        )
        await session.commit()
    dispatched: list[int] = []

    async def dispatch(run_id: int) -> None:
        dispatched.append(run_id)

    maintenance = Maintenance(ctx, dispatch)
    assert await maintenance.fire_schedules() == []

    email = "ip-admin@example.com"
    await make_user(ctx, role=Role.admin, email=email)
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, email)
        status = await client.get("/api/v1/emag/enhanced/status", headers=headers)
        assert status.status_code == 200, status.text
        by_name = {a["name"]: a for a in status.json()["accounts"]}
        refusal = by_name[accounts.main.name]["ip_refusal"]
        assert refusal["ip"] == "127.0.0.1"
        assert refusal["message"] == REFUSAL
        assert refusal["hint"] == IP_WHITELIST_HINT
        paused_until = datetime.fromisoformat(refusal["schedules_paused_until"])
        assert paused_until > now
        assert by_name[accounts.fbe.name]["ip_refusal"] is None
        reasons = by_name[accounts.main.name]["health"]["reasons"]
        assert any(r["factor"] == "auth" for r in reasons), reasons

        # The dashboard's overview shows eMAG's message and what to do.
        login = await client.post(
            "/login",
            data={"email": email, "password": DEFAULT_PASSWORD},
            headers={"Origin": api},
        )
        assert login.status_code in (200, 303), login.text
        page = await client.get("/")
        assert page.status_code == 200
        assert "eMAG refuses this server's IP (127.0.0.1)" in page.text
        assert "Profile &gt; API settings" in page.text

    # After the pause, one scheduled run tries again.
    async with ctx.db.session() as session:
        await session.execute(
            update(SyncLog)
            .where(SyncLog.id == run.id)
            .values(finished_at=now - IP_REFUSAL_PAUSE - timedelta(minutes=1))
        )
        await session.commit()
    fired = await maintenance.fire_schedules()
    assert fired == dispatched and len(fired) == 1
