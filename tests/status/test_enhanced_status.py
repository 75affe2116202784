"""``GET /api/v1/emag/enhanced/status`` through the app: counts, runs, errors, health score.

Offers, orders and sync runs are inserted by hand; the settings' schedules are the defaults
(orders every 5m, offers every 1h, 60 s jitter)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from magflow.accounts.models import AccountType, EmagAccount
from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncLog
from tests.factories import make_account, make_user
from tests.support.auth import auth_headers

PATH = "/api/v1/emag/enhanced/status"
_ids = itertools.count(1)


async def add_runs(ctx: AppContext, account: EmagAccount, runs: list[dict[str, Any]]) -> None:
    """Finished runs; ``ago`` (seconds) is when each finished, ``took`` how long it ran."""
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        for spec in runs:
            values = dict(spec)
            finished = now - timedelta(seconds=values.pop("ago"))
            took = timedelta(seconds=values.pop("took", 5))
            row: dict[str, Any] = {
                "account_id": account.id,
                "mode": "incremental",
                "status": "completed",
                "trigger": "schedule",
                "created_at": finished - took,
                "started_at": finished - took,
                "finished_at": finished,
                "api_calls": 10,
                "processed_items": 100,
                "errors": [],
            }
            row.update(values)
            session.add(SyncLog(**row))
            await session.flush()  # ids in insertion order: the list is oldest first
        await session.commit()


async def add_offers(ctx: AppContext, account: EmagAccount, offers: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        for values in offers:
            row: dict[str, Any] = {
                "account_id": account.id,
                "emag_id": next(_ids),
                "raw": {},
                "last_seen_at": now,
                "status": 1,
                "offer_validation_status": 1,
                "validation_status": 9,
                "stock_total": 5,
            }
            row.update(values)
            session.add(EmagOffer(**row))
        await session.commit()


async def add_orders(
    ctx: AppContext, account: EmagAccount, statuses: list[int], order_type: int = 3
) -> None:
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        for order_status in statuses:
            session.add(
                EmagOrder(
                    account_id=account.id,
                    emag_id=next(_ids),
                    status=order_status,
                    order_type=order_type,
                    raw={},
                    last_seen_at=now,
                )
            )
        await session.commit()


def fresh_runs() -> list[dict[str, Any]]:
    return [
        {"kind": "offers", "ago": 600},
        *({"kind": "orders", "ago": 60 * i} for i in range(10, 0, -1)),
    ]


async def get_status(api: str, email: str, **params: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, email)
        response = await client.get(PATH, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_healthy_account_with_counts(ctx: AppContext, api: str) -> None:
    user = await make_user(ctx)
    account = await make_account(ctx, name="ro-main")
    await add_offers(
        ctx,
        account,
        [
            {},  # sellable
            {"validation_status": 3},  # sellable: waiting for EAN approval
            {"stock_total": 0},  # active, out of stock
            {"offer_validation_status": 2},  # invalid price: active, not sellable
            {"validation_status": 8},  # documentation rejected
            {"status": 0},  # inactive
            {"missing_since": datetime.now(UTC)},  # gone from eMAG
        ],
    )
    await add_orders(ctx, account, [1, 1, 2, 4, 4, 4, 0, 5])
    await add_orders(ctx, account, [1], order_type=2)  # FBE: eMAG acknowledges it
    await add_runs(ctx, account, fresh_runs())
    async with httpx.AsyncClient(base_url=api) as client:
        assert (await client.get(PATH)).status_code == 401
    body = await get_status(api, user.email)
    assert body["account_type"] == "both"
    [row] = body["accounts"]
    assert row["name"] == "ro-main"
    assert row["offers"] == {
        "total": 6,
        "active": 5,
        "sellable": 2,
        "out_of_stock": 1,
        "missing": 1,
    }
    assert row["orders"]["total"] == 9
    assert row["orders"]["waiting_for_acknowledgement"] == 2
    assert row["orders"]["by_status"] == {
        "new": 3,
        "in_progress": 1,
        "finalized": 3,
        "cancelled": 1,
        "returned": 1,
    }
    orders = row["syncs"]["orders"]
    assert orders["schedule"] == "5m" and orders["period_seconds"] == 300
    assert orders["last_run"]["status"] == "completed"
    assert 55 <= orders["last_run"]["age_seconds"] < 120
    assert orders["last_run"]["duration_seconds"] == 5
    assert orders["last_success"]["id"] == orders["last_run"]["id"]
    assert row["syncs"]["offers"]["period_seconds"] == 3600
    assert row["recent"]["runs"] == 11 and row["recent"]["success_rate"] == 1.0
    assert row["recent"]["api_calls"] == 110
    assert row["health"] == {"score": 100, "status": "healthy", "reasons": []}
    assert body["summary"] == {
        "accounts": 1,
        "healthy": 1,
        "warning": 0,
        "critical": 0,
        "inactive": 0,
        "worst_score": 100,
    }


async def test_stale_failing_unauthorised_and_inactive_accounts(ctx: AppContext, api: str) -> None:
    user = await make_user(ctx)
    stale = await make_account(ctx, name="stale")
    failing = await make_account(ctx, name="failing", account_type=AccountType.fbe)
    locked = await make_account(ctx, name="locked")
    idle = await make_account(ctx, name="idle")
    async with ctx.db.session() as session:
        (await session.get(EmagAccount, idle.id)).is_active = False  # type: ignore[union-attr]
        await session.commit()

    day = 86400
    await add_runs(ctx, stale, [{"kind": "offers", "ago": 3 * day}, {"kind": "orders", "ago": day}])

    server_error = {"kind": "EmagTransientError", "status_code": 503, "messages": ["busy"]}
    await add_runs(
        ctx,
        failing,
        [
            {"kind": "offers", "ago": 900},
            {"kind": "orders", "ago": 200, "api_calls": 100, "rate_limited": 10},
            *(
                {
                    "kind": "orders",
                    "ago": 100 - i,
                    "status": "failed",
                    "api_calls": 100,
                    "rate_limited": 10,
                    "errors": [{**server_error, "at": datetime.now(UTC).isoformat()}],
                }
                for i in range(3)
            ),
        ],
    )

    auth_error = {
        "at": datetime.now(UTC).isoformat(),
        "kind": "EmagAuthError",
        "status_code": 401,
        "messages": ["Invalid vendor ip"],
    }
    await add_runs(
        ctx,
        locked,
        [
            *fresh_runs(),
            {"kind": "orders", "ago": 10, "status": "failed", "errors": [auth_error]},
        ],
    )

    body = await get_status(api, user.email)
    rows = {row["name"]: row for row in body["accounts"]}

    stale_health = rows["stale"]["health"]
    assert stale_health["status"] == "warning"
    assert stale_health["score"] == 60  # both kinds past STALE_FULL_PERIODS
    assert {r["factor"] for r in stale_health["reasons"]} == {"offers_stale", "orders_stale"}
    assert "last successful orders sync 1.0 d ago" in " ".join(
        r["message"] for r in stale_health["reasons"]
    )

    failing_row = rows["failing"]
    recent = failing_row["recent"]
    assert (recent["completed"], recent["failed"], recent["server_errors"]) == (2, 3, 3)
    assert recent["rate_limited"] == 40 and recent["api_calls"] == 410
    assert recent["recent"][0]["status_code"] == 503
    assert failing_row["syncs"]["orders"]["last_run"]["message"] == "busy"
    assert failing_row["syncs"]["orders"]["last_run"]["status"] == "failed"
    penalties = {r["factor"]: r["penalty"] for r in failing_row["health"]["reasons"]}
    # 2 of 5 runs completed; 40 429s in 410 calls (past 5 %); 3 final 5xx in 410 calls.
    assert penalties == {"success_rate": 15.0, "rate_limited": 15.0, "server_errors": 1.5}
    assert failing_row["health"]["score"] == 69  # 68.5, half up
    assert failing_row["health"]["status"] == "warning"

    locked_row = rows["locked"]
    assert locked_row["health"]["status"] == "critical"
    assert locked_row["health"]["reasons"][0]["factor"] == "auth"
    assert locked_row["recent"]["auth_errors"] == 1
    assert locked_row["recent"]["last_auth_error_at"] is not None
    assert locked_row["syncs"]["orders"]["last_run"]["message"] == "Invalid vendor ip"

    assert rows["idle"]["health"] == {"score": None, "status": "inactive", "reasons": []}
    summary = body["summary"]
    assert (summary["accounts"], summary["inactive"], summary["healthy"]) == (4, 1, 0)

    only_fbe = await get_status(api, user.email, account_type="fbe")
    assert [row["name"] for row in only_fbe["accounts"]] == ["failing"]


async def test_status_is_cached_briefly(ctx: AppContext, api: str) -> None:
    user = await make_user(ctx)
    account = await make_account(ctx)
    first = await get_status(api, user.email)
    await add_orders(ctx, account, [1])
    second = await get_status(api, user.email)
    assert second["generated_at"] == first["generated_at"]
    assert second["accounts"][0]["orders"]["total"] == 0
    async with httpx.AsyncClient(base_url=api) as client:
        headers = await auth_headers(client, user.email)
        bad = await client.get(PATH, params={"account_type": "x"}, headers=headers)
    assert bad.status_code == 422
