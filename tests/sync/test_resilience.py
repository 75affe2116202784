"""Faults, crashes and cancellation: the database always ends as a clean run leaves it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from magflow.context import AppContext
from magflow.emag.retry import RetryPolicy
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer
from magflow.jobs.inprocess import InProcessRunner
from magflow.orders.models import EmagOrder
from magflow.settings import Settings
from magflow.sync.models import SyncKind, SyncLog, SyncMode
from magflow.sync.wiring import build_engine
from tests.factories import make_account
from tests.support.simulation import Accounts, read_everything, set_faults, snapshot, sync


async def test_injected_faults_end_in_the_same_state_as_a_clean_run(
    make_ctx: Callable[..., AppContext], sim: SimulatorServer, accounts: Accounts
) -> None:
    ctx = make_ctx(emag_timeout_seconds=1.0, sync_round_backoff_seconds=0.2)
    await set_faults(
        sim,
        **{"429": 0.08, "500": 0.05, "502": 0.04, "504": 0.04, "malformed": 0.05},
        timeout=0.03,
        timeout_seconds=2,
        seed=5,
    )
    faulted = [
        await sync(ctx, accounts.fbe, SyncKind.orders, SyncMode.full),
        await sync(ctx, accounts.fbe, SyncKind.offers),
    ]
    assert [run.status for run in faulted] == ["completed", "completed"], [
        run.errors for run in faulted
    ]
    assert sum(run.retries for run in faulted) > 0
    state_after_faults = await snapshot(ctx)

    await set_faults(sim)  # and now the clean run, on top
    clean = await sync(ctx, accounts.fbe, SyncKind.orders, SyncMode.full)
    await sync(ctx, accounts.fbe, SyncKind.offers)
    assert clean.created_items == 0
    assert await snapshot(ctx) == state_after_faults
    expected = await read_everything(ctx, accounts.fbe, SyncKind.orders)
    assert {key[1] for key in state_after_faults["orders"]} == set(expected)


async def test_a_failing_page_makes_the_run_partial_with_emags_message(
    make_ctx: Callable[..., AppContext], sim: SimulatorServer, accounts: Accounts
) -> None:
    ctx = make_ctx(sync_round_backoff_seconds=0.05)
    await set_faults(sim, is_error=1.0, routes=["product_offer/read"])
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "partial"
    assert run.errors and run.errors[-1]["page"] is not None
    assert all(error["messages"] for error in run.errors)
    assert run.processed_items == 0


async def test_a_failed_run_records_the_calls_and_retries_it_made(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    await set_faults(sim, **{"500": 1.0}, routes=["vat/read"], seed=3)
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "failed"
    attempts = RetryPolicy().max_attempts  # every attempt of vat/read answered 500
    assert (run.api_calls, run.retries, run.rate_limited) == (attempts, attempts - 1, 0)
    await set_faults(sim, **{"429": 1.0}, routes=["vat/read"], seed=3)
    limited = await sync(ctx, accounts.main, SyncKind.offers)
    assert limited.status == "failed"
    assert (limited.api_calls, limited.retries) == (attempts, attempts - 1)
    assert limited.rate_limited == attempts


async def test_wrong_credentials_fail_the_run_with_emags_message(
    ctx: AppContext, sim: SimulatorServer
) -> None:
    account = await make_account(ctx, username="nobody", password="wrong", base_url=sim.base_url)
    run = await sync(ctx, account, SyncKind.offers)
    assert run.status == "failed"
    assert "You are not allowed to use this API." in run.errors[-1]["messages"]


@pytest.mark.slow
async def test_a_killed_sync_resumes_from_its_checkpoint_without_loss_or_doubles(
    settings: Settings, make_ctx: Callable[..., AppContext]
) -> None:
    config = SimConfig(
        seed=3,
        offers=10,
        orders=2500,
        history_days=40,
        accounts=[
            SimAccount(
                name="big",
                account_type="main",
                username=f"big-{os.getpid()}-{time.time_ns()}",
                password="pw",
            )
        ],
    )
    with SimulatorServer(config) as sim:
        ctx = make_ctx(sync_stale_seconds=1.0)
        account = await make_account(
            ctx,
            name="big",
            username=config.accounts[0].username,
            password="pw",
            base_url=sim.base_url,
        )
        await set_faults(sim, slow=0.5, slow_seconds=0.2, seed=1)
        env = {
            **os.environ,
            "MAGFLOW_DATABASE_URL": settings.database_url,
            "MAGFLOW_VAR_DIR": str(settings.var_dir),
            "MAGFLOW_SECRET_KEY": settings.resolved_secret_key(),
            "MAGFLOW_REDIS_URL": settings.redis_url or "",
            "MAGFLOW_REDIS_PREFIX": settings.redis_prefix,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "magflow", "sync", "orders", "--account", "big", "--full"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        run = await _wait_for(ctx, lambda r: r.processed_items >= 600, timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        async with ctx.db.session() as session:
            killed = await session.get(SyncLog, run.id)
            assert killed is not None
            assert killed.status == "running" and killed.processed_items < 2500

        await set_faults(sim)
        await asyncio.sleep(1.2)  # let the dead worker's heartbeat go stale
        runner = InProcessRunner(ctx, build_engine(ctx))
        await runner.recover_stalled()
        assert await runner.wait(run.id) == "completed"

        async with ctx.db.session() as session:
            final = await session.get(SyncLog, run.id)
            assert final is not None
            stored = (await session.execute(select(EmagOrder))).scalars().all()
        assert final.processed_items == final.total_items == 2500
        assert final.created_items == 2500 and final.updated_items == 0
        assert len(stored) == 2500
        expected = await read_everything(ctx, account, SyncKind.orders)
        assert {o.emag_id: o.raw for o in stored} == expected
        customers = (await snapshot(ctx))["customers"]
        assert sum(c[0] for c in customers.values()) == 2500


async def _wait_for(
    ctx: AppContext, condition: Callable[[SyncLog], bool], timeout: float
) -> SyncLog:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with ctx.db.session() as session:
            runs = (await session.execute(select(SyncLog))).scalars().all()
        for run in runs:
            if condition(run):
                return run
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")
