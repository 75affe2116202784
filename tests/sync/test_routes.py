"""The sync API: trigger, one run at a time, cancel, logs, progress, listings."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.sync import service
from magflow.sync.models import SyncLog
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers
from tests.support.simulation import Accounts, set_faults


@pytest.fixture
async def operator(ctx: AppContext, api: str) -> httpx.AsyncClient:
    user = await make_user(ctx, role=Role.operator)
    client = httpx.AsyncClient(base_url=api, timeout=30)
    client.headers.update(await auth_headers(client, user.email))
    yield client  # type: ignore[misc]
    await client.aclose()


async def wait_finished(client: httpx.AsyncClient, run_id: int, timeout: float = 60) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = (await client.get(f"/api/v1/emag/sync-logs/{run_id}")).json()
        if run["status"] not in ("queued", "running"):
            return run  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


async def test_trigger_runs_a_sync_and_lists_the_results(
    operator: httpx.AsyncClient, accounts: Accounts
) -> None:
    started = await operator.post(
        "/api/v1/emag/enhanced/sync/orders", json={"account": "main", "mode": "full"}
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["runs"][0]["id"]
    final = await wait_finished(operator, run_id)
    assert final["status"] == "completed"
    assert final["processed_items"] == final["total_items"] == 260

    logs = (await operator.get("/api/v1/emag/sync-logs", params={"account": "main"})).json()
    assert logs["total"] == 1 and logs["items"][0]["id"] == run_id
    orders = (
        await operator.get(
            "/api/v1/emag/orders",
            params={"account": "main", "limit": 5, "sort": "total", "order": "desc"},
        )
    ).json()
    assert orders["total"] == 260 and len(orders["items"]) == 5
    totals = [float(o["total_with_vat"]) for o in orders["items"]]
    assert totals == sorted(totals, reverse=True)
    detail = (await operator.get(f"/api/v1/emag/orders/{orders['items'][0]['id']}")).json()
    assert detail["products"]
    assert (await operator.get("/api/v1/emag/orders/999999")).status_code == 404


async def test_offer_listing_filters_search_sort_and_paginate(
    operator: httpx.AsyncClient, accounts: Accounts
) -> None:
    run_id = (
        await operator.post("/api/v1/emag/enhanced/sync/offers", json={"account": "fbe"})
    ).json()["runs"][0]["id"]
    assert (await wait_finished(operator, run_id))["status"] == "completed"
    everything = (await operator.get("/api/v1/emag/offers", params={"limit": 500})).json()
    assert everything["total"] == 230
    first = everything["items"][0]
    search = (
        await operator.get("/api/v1/emag/offers", params={"search": first["part_number"]})
    ).json()
    assert first["id"] in [o["id"] for o in search["items"]]
    # An EAN finds its offer, whole or in part (the simulator gives each offer one).
    with_ean = next(o for o in everything["items"] if o["ean"])
    ean = with_ean["ean"][0]
    for text in (ean, ean[3:10], f" {ean} "):
        by_ean = (await operator.get("/api/v1/emag/offers", params={"search": text})).json()
        assert with_ean["id"] in [o["id"] for o in by_ean["items"]], text
    exact = (await operator.get("/api/v1/emag/offers", params={"search": ean})).json()
    assert all(ean in o["ean"] for o in exact["items"])
    in_stock = (
        await operator.get("/api/v1/emag/offers", params={"in_stock": True, "limit": 500})
    ).json()
    assert all(o["stock_total"] > 0 for o in in_stock["items"])
    page = (
        await operator.get(
            "/api/v1/emag/offers", params={"sort": "sale_price", "skip": 10, "limit": 10}
        )
    ).json()
    prices = [float(o["sale_price"]) for o in page["items"]]
    assert prices == sorted(prices) and len(prices) == 10
    # LIKE metacharacters are literal.
    assert (await operator.get("/api/v1/emag/offers", params={"search": "%_%"})).json()[
        "total"
    ] == 0
    bad = await operator.get("/api/v1/emag/offers", params={"sort": "password"})
    assert bad.status_code == 422


async def test_concurrent_triggers_give_one_run_and_409_with_its_id(
    operator: httpx.AsyncClient, sim: SimulatorServer, accounts: Accounts
) -> None:
    await set_faults(sim, slow=1.0, slow_seconds=0.3)
    first, second = await asyncio.gather(
        operator.post("/api/v1/emag/enhanced/sync/offers", json={"account": "main"}),
        operator.post("/api/v1/emag/enhanced/sync/offers", json={"account": "main"}),
    )
    codes = sorted([first.status_code, second.status_code])
    assert codes == [202, 409], (first.text, second.text)
    accepted, refused = (first, second) if first.status_code == 202 else (second, first)
    run_id = accepted.json()["runs"][0]["id"]
    assert refused.json()["run_id"] == run_id
    assert refused.json()["detail"].startswith("an offers sync for account "), refused.text

    progress = (await operator.get("/api/v1/emag/enhanced/products/sync-progress")).json()
    assert [r["run_id"] for r in progress["running"]] == [run_id]

    cancel = await operator.post(f"/api/v1/emag/enhanced/sync/{run_id}/cancel")
    assert cancel.status_code == 200
    final = await wait_finished(operator, run_id)
    assert final["status"] == "cancelled"
    assert final["processed_items"] < 230
    # the calls made before the cancel are recorded: at least vat/read, the count and a page
    assert final["api_calls"] >= 3, final
    again = await operator.post(f"/api/v1/emag/enhanced/sync/{run_id}/cancel")
    assert again.status_code == 409
    # A new run can start once the old one is over.
    await set_faults(sim)
    new = await operator.post("/api/v1/emag/enhanced/sync/offers", json={"account": "main"})
    assert new.status_code == 202


async def test_viewers_cannot_trigger_and_unknown_accounts_are_404(
    ctx: AppContext, api: str, operator: httpx.AsyncClient, accounts: Accounts
) -> None:
    viewer = await make_user(ctx, role=Role.viewer)
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, viewer.email)
        refused = await client.post("/api/v1/emag/enhanced/sync/offers", json={}, headers=headers)
        assert refused.status_code == 403
        assert (await client.get("/api/v1/emag/sync-logs", headers=headers)).status_code == 200
    missing = await operator.post("/api/v1/emag/enhanced/sync/offers", json={"account": "nope"})
    assert missing.status_code == 404
    assert "nope" in missing.json()["detail"]
    wrong_kind = await operator.post("/api/v1/emag/enhanced/sync/customers", json={})
    assert wrong_kind.status_code == 422
    assert (await operator.post("/api/v1/emag/enhanced/sync/424242/cancel")).status_code == 404


def test_cli_sync_shows_a_summary_and_exits_by_outcome(
    settings,
    sim: SimulatorServer,
    accounts: Accounts,  # type: ignore[no-untyped-def]
) -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "MAGFLOW_DATABASE_URL": settings.database_url,
        "MAGFLOW_VAR_DIR": str(settings.var_dir),
        "MAGFLOW_SECRET_KEY": settings.resolved_secret_key(),
        "MAGFLOW_REDIS_URL": settings.redis_url or "",
        "MAGFLOW_REDIS_PREFIX": settings.redis_prefix,
        "COLUMNS": "200",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "magflow", "sync", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    ok = run("orders", "--account", "main", "--full")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "completed" in ok.stdout and "260/260" in ok.stdout
    missing = run("offers", "--account", "nope")
    assert missing.returncode == 1 and "nope" in missing.stderr
    # --since is read as the API reads it: a plain date is the account's platform day.
    day = (datetime.now(UTC) - timedelta(days=5)).date().isoformat()
    recent = run("orders", "--account", "fbe", "--since", day)
    assert recent.returncode == 0, recent.stdout + recent.stderr
    assert "completed" in recent.stdout
    refused = run("offers", "--account", "main", "--since", day)
    assert refused.returncode == 1 and "--since applies to orders only" in refused.stderr
    garbage = run("orders", "--since", "last week")
    assert garbage.returncode == 2 and "2026-11-20" in garbage.stderr
    asyncio.run(set_faults(sim, is_error=1.0, routes=["product_offer/read"]))
    env["MAGFLOW_SYNC_ROUND_BACKOFF_SECONDS"] = "0.05"
    partial = run("offers", "--account", "fbe")
    assert partial.returncode == 1
    assert "partial" in partial.stdout


async def test_a_finished_sync_invalidates_the_cached_status(
    operator: httpx.AsyncClient, accounts: Accounts
) -> None:
    async def main_offers() -> int:
        status = (await operator.get("/api/v1/emag/enhanced/status")).json()
        main = next(a for a in status["accounts"] if a["name"] == "main")
        return int(main["offers"]["total"])

    assert await main_offers() == 0
    first = (await operator.get("/api/v1/emag/enhanced/status")).json()
    assert (await operator.get("/api/v1/emag/enhanced/status")).json() == first  # served cached
    run_id = (
        await operator.post("/api/v1/emag/enhanced/sync/offers", json={"account": "main"})
    ).json()["runs"][0]["id"]
    assert (await wait_finished(operator, run_id))["status"] == "completed"
    assert await main_offers() == 230  # well within the cache's lifetime: it was invalidated


@pytest.mark.parametrize(
    ("kind", "expected"), [("orders", "an orders sync"), ("offers", "an offers sync")]
)
def test_the_conflict_message_reads_well(kind: str, expected: str) -> None:
    run = SyncLog(id=5, account_id=2, kind=kind, status="running")
    message = str(service.RunAlreadyActiveError(run))
    assert message == f"{expected} for account 2 is already running (run 5)"


async def _run_params(ctx: AppContext, run_id: int) -> dict:  # type: ignore[type-arg]
    async with ctx.db.session() as session:
        run = await session.get(SyncLog, run_id)
        assert run is not None
        return dict(run.params)


async def test_since_as_a_date_or_a_time_without_zone_is_the_platform_time(
    ctx: AppContext, operator: httpx.AsyncClient, accounts: Accounts
) -> None:
    """A new user's ``"since": "2026-11-20"`` used to be queued and then crash the run."""
    bucharest = ZoneInfo("Europe/Bucharest")
    day = (datetime.now(bucharest) - timedelta(days=20)).date()
    started = await operator.post(
        "/api/v1/emag/enhanced/sync/orders", json={"account": "main", "since": day.isoformat()}
    )
    assert started.status_code == 202, started.text
    run = started.json()["runs"][0]
    assert run["mode"] == "full"  # since implies a full read from that date
    expected = datetime.combine(day, datetime.min.time(), bucharest)
    assert await _run_params(ctx, run["id"]) == {"since": expected.isoformat()}
    final = await wait_finished(operator, run["id"])
    assert final["status"] == "completed", final["errors"]
    assert 0 < final["processed_items"] < 260

    naive = f"{day.isoformat()}T12:30:00"
    started = await operator.post(
        "/api/v1/emag/enhanced/sync/orders",
        json={"account": "main", "mode": "full", "since": naive},
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["runs"][0]["id"]
    params = await _run_params(ctx, run_id)
    assert params["since"] == datetime.fromisoformat(naive).replace(tzinfo=bucharest).isoformat()
    assert (await wait_finished(operator, run_id))["status"] == "completed"

    # A zone given is kept as given.
    started = await operator.post(
        "/api/v1/emag/enhanced/sync/orders",
        json={"account": "fbe", "since": f"{day.isoformat()}T06:00:00Z"},
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["runs"][0]["id"]
    assert await _run_params(ctx, run_id) == {"since": f"{day.isoformat()}T06:00:00+00:00"}
    assert (await wait_finished(operator, run_id))["status"] == "completed"


@pytest.mark.parametrize(
    ("kind", "body", "says"),
    [
        ("offers", {"since": "2026-01-01"}, "orders only"),
        ("offers", {"mode": "incremental"}, "offers are always read whole"),
        ("orders", {"mode": "incremental", "since": "2026-01-01"}, "incremental"),
        ("orders", {"since": "yesterday"}, "2026-11-20"),
        ("orders", {"since": 1700000000}, "2026-11-20"),
        ("orders", {"since": "1900-01-01"}, "between 2000 and 3000"),
        ("orders", {"since": "9999-12-31T23:59:59-12:00"}, "between 2000 and 3000"),
        ("orders", {"since": "2999-01-01"}, "in the future"),
        ("orders", {"since": "2026-02-30"}, "2026-11-20"),
    ],
)
async def test_sync_options_that_cannot_be_honoured_are_a_422_saying_why(
    ctx: AppContext,
    operator: httpx.AsyncClient,
    kind: str,
    body: dict,  # type: ignore[type-arg]
    says: str,
) -> None:
    await make_account(ctx, name="main")  # refused before any eMAG call: no simulator needed
    refused = await operator.post(
        f"/api/v1/emag/enhanced/sync/{kind}", json={"account": "main", **body}
    )
    assert refused.status_code == 422, refused.text
    assert says in refused.text
    logs = (await operator.get("/api/v1/emag/sync-logs")).json()
    assert logs["total"] == 0  # nothing was queued


def test_since_is_resolved_per_account_platform() -> None:
    from magflow.sync import service

    naive = datetime(2026, 7, 1, 0, 0)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert service.since_params(naive, "ro", now) == {"since": "2026-07-01T00:00:00+03:00"}
    assert service.since_params(naive, "hu", now) == {"since": "2026-07-01T00:00:00+02:00"}
    aware = datetime(2026, 7, 1, tzinfo=UTC)
    assert service.since_params(aware, "bg", now) == {"since": "2026-07-01T00:00:00+00:00"}
    assert service.since_params(None, "bg", now) == {}


async def test_order_listing_dates_without_zone_are_the_platform_time(
    operator: httpx.AsyncClient, accounts: Accounts
) -> None:
    run_id = (
        await operator.post(
            "/api/v1/emag/enhanced/sync/orders", json={"account": "main", "mode": "full"}
        )
    ).json()["runs"][0]["id"]
    assert (await wait_finished(operator, run_id))["status"] == "completed"
    everything = (await operator.get("/api/v1/emag/orders", params={"limit": 500})).json()
    dates = sorted(datetime.fromisoformat(o["order_date"]) for o in everything["items"])
    bucharest = ZoneInfo("Europe/Bucharest")
    day = dates[len(dates) // 2].astimezone(bucharest).date()
    start = datetime.combine(day, datetime.min.time(), bucharest)
    end = start + timedelta(days=1)

    def count(params: dict) -> int:  # type: ignore[type-arg]
        return sum(
            1
            for d in dates
            if (params.get("f") is None or d >= params["f"])
            and (params.get("t") is None or d < params["t"])
        )

    async def listed(**params: str) -> int:
        answer = await operator.get("/api/v1/emag/orders", params={"limit": 1, **params})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["total"])

    # A plain date_from is that day's local midnight; a plain date_to includes that whole day.
    assert await listed(date_from=day.isoformat()) == count({"f": start})
    assert await listed(date_to=day.isoformat()) == count({"t": end})
    assert await listed(date_from=day.isoformat(), date_to=day.isoformat()) == count(
        {"f": start, "t": end}
    )
    naive = f"{day.isoformat()}T12:00:00"
    noon = datetime.fromisoformat(naive).replace(tzinfo=bucharest)
    assert await listed(date_from=naive) == count({"f": noon})
    assert await listed(date_from=noon.astimezone(UTC).isoformat()) == count({"f": noon})
    bad = await operator.get("/api/v1/emag/orders", params={"date_from": "last week"})
    assert bad.status_code == 422 and "2026-11-20" in bad.text
    far = await operator.get("/api/v1/emag/orders", params={"date_to": "9999-12-31"})
    assert far.status_code == 422 and "between 2000 and 3000" in far.text


async def test_a_run_queued_with_a_since_without_zone_still_completes(
    ctx: AppContext, accounts: Accounts
) -> None:
    """Runs queued before ``since`` was stored with its offset hold a naive value."""
    from magflow.sync import service
    from magflow.sync.models import SyncKind, SyncMode
    from magflow.sync.wiring import build_engine

    naive = (datetime.now(UTC) - timedelta(days=10)).replace(tzinfo=None, microsecond=0)
    async with ctx.db.session() as session:
        run = await service.request_run(
            session,
            account_id=accounts.main.id,
            kind=SyncKind.orders,
            mode=SyncMode.full,
            trigger="test",
            requested_by=None,
            params={"since": naive.isoformat()},
        )
    assert await build_engine(ctx).execute(run.id) == "completed"
