"""With ``MAGFLOW_JOBS=procrastinate`` the callback only defers the account's intake job; a
``magflow worker`` process reads, stores and acknowledges (PostgreSQL only)."""

from __future__ import annotations

import subprocess

import httpx

from magflow.app import create_app
from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.settings import Settings
from tests.factories import make_user
from tests.intake.support import eventually, intake_rows
from tests.jobs.test_durable import durable_settings, worker
from tests.orders.support import sim_control
from tests.support.auth import auth_headers
from tests.support.servers import UvicornThread
from tests.support.simulation import Accounts

__all__ = ["durable_settings", "worker"]


async def test_a_callback_is_handled_by_a_worker(
    ctx: AppContext,
    sim: SimulatorServer,
    accounts: Accounts,
    durable_settings: Settings,
    worker: subprocess.Popen[bytes],
    port: int,
) -> None:
    admin = await make_user(ctx, role=Role.admin)
    created = (await sim_control(sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1}))[
        "created"
    ]
    with UvicornThread(create_app(durable_settings), port=port) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            client.headers.update(await auth_headers(client, admin.email))
            await client.patch("/api/v1/accounts/main", json={"auto_acknowledge": True})
            urls = (await client.get("/api/v1/accounts/main/callbacks")).json()["urls"]
            url = next(u["url"] for u in urls if u["kind"] == "order")
            for _ in range(3):  # eMAG's repeats: still one job's work
                answer = await client.get(url, params={"order_id": created[0]})
                assert answer.status_code == 200

    async def acknowledged() -> bool:
        row = (await intake_rows(ctx, accounts.main.id)).get(created[0])
        return row is not None and row.outcome == "acknowledged"

    await eventually(acknowledged, timeout=90)
    on_emag = await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{created[0]}")
    assert on_emag["status"] == 2
    stats = await sim_control(sim, "GET", "/_sim/stats")
    assert sum(stats["requests"]["order/acknowledge"].values()) == 1
    assert worker.poll() is None
