"""Errors become HTTP in one place (magflow.common.errors): unknown things 404, eMAG's refusals
422 with eMAG's own messages, eMAG unusable 502; validation errors never echo a secret."""

from __future__ import annotations

import json

from sqlalchemy import select

from magflow.context import AppContext
from magflow.emag.codes import OrderStatus
from magflow.emag_sim import SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind
from magflow.web.client import ApiError
from tests.orders.support import Clients, sim_control
from tests.support.simulation import Accounts, sync

EMAG_DETAIL_KEYS = {"message", "emag_route", "emag_status", "emag_messages", "kind"}


async def new_order(ctx: AppContext, sim: SimulatorServer, accounts: Accounts) -> EmagOrder:
    """A new (status 1) order, made on the simulator and synced."""
    path = "/_sim/accounts/main/orders/new"
    (emag_id,) = (await sim_control(sim, "POST", path, json={"count": 1}))["created"]
    await sync(ctx, accounts.main, SyncKind.orders)
    async with ctx.db.session() as session:
        order = await session.scalar(
            select(EmagOrder).where(
                EmagOrder.account_id == accounts.main.id, EmagOrder.emag_id == int(emag_id)
            )
        )
    assert order is not None and order.status == OrderStatus.NEW
    return order


async def test_unknown_things_answer_404_with_their_name(
    accounts: Accounts, clients: Clients
) -> None:
    api = clients.admin
    for method, path in (
        ("GET", "/api/v1/emag/courier-accounts?account=nope"),
        ("GET", "/api/v1/emag/returns?account=nope"),
        ("GET", "/api/v1/emag/sync-logs?account=nope"),
        ("GET", "/api/v1/emag/orders?account=nope"),
        ("GET", "/api/v1/emag/offers/export?account=nope"),
        ("GET", "/api/v1/audit?account=nope"),
        ("DELETE", "/api/v1/accounts/nope"),
        ("POST", "/api/v1/emag/enhanced/sync/9999/cancel"),
        ("PATCH", "/api/v1/users/999999"),
        ("POST", "/api/v1/emag/orders/999999/acknowledge"),
        ("POST", "/api/v1/emag/bulk/operations/999999/retry"),
        ("POST", "/api/v1/emag/offers/999999/stock"),
    ):
        body = {"stock": 1} if path.endswith("/stock") else {}
        response = await api.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str) and ("nope" in detail or "999" in detail), detail


async def test_emag_refusal_answers_422_with_emags_messages(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    order = await new_order(ctx, sim, accounts)
    response = await clients.operator.post(
        f"/api/v1/emag/orders/{order.id}/status", json={"status": "prepared"}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.keys() >= EMAG_DETAIL_KEYS
    assert detail["kind"] == "validation" and detail["emag_route"] == "order/save"
    assert any("cannot be changed from 1 to 3" in m for m in detail["emag_messages"]), detail
    # The dashboard's client shows eMAG's own message to the person.
    assert "cannot be changed from 1 to 3" in ApiError(422, detail).message


async def test_emag_unusable_answers_502_and_says_a_write_may_have_happened(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    order = await new_order(ctx, sim, accounts)
    await sim_control(
        sim,
        "POST",
        "/_sim/faults",
        json={"replace": True, "500": 1.0, "routes": ["order/attachments/save"]},
    )
    response = await clients.operator.post(
        f"/api/v1/emag/orders/{order.id}/attachments",
        json={"url": "https://example.com/invoice.pdf", "name": "invoice.pdf"},
    )
    assert response.status_code == 502, response.text
    detail = response.json()["detail"]
    assert detail.keys() >= EMAG_DETAIL_KEYS
    assert detail["kind"] == "transient" and detail["emag_status"] == 500
    assert detail["emag_route"] == "order/attachments/save"
    assert "re-read" in detail["hint"]  # a 500 to a write: eMAG may have done it


async def test_emag_unreachable_answers_502(
    ctx: AppContext, accounts: Accounts, clients: Clients
) -> None:
    # Bad credentials: eMAG refuses to authenticate; nothing a request change would fix.
    async with ctx.db.session() as session:
        account = await session.get(type(accounts.main), accounts.main.id)
        assert account is not None
        account.password_encrypted = ctx.cipher.encrypt("not the password")
        await session.commit()
    response = await clients.operator.get(
        "/api/v1/emag/courier-accounts", params={"account": "main"}
    )
    assert response.status_code == 502, response.text
    detail = response.json()["detail"]
    assert detail["kind"] == "auth" and detail["emag_route"] == "courier_accounts/read"
    assert "not the password" not in response.text


async def test_validation_errors_never_echo_a_secret(clients: Clients) -> None:
    secret = "short9"
    response = await clients.admin.post(
        "/api/v1/users", json={"email": "new@example.com", "password": secret}
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "password"] and error["type"] == "string_too_short"
    assert "input" not in error and secret not in response.text

    # A missing field echoes the whole body: its secret keys are masked, the rest kept.
    account_secret = "emag-password-4f1c"
    response = await clients.admin.post(
        "/api/v1/accounts",
        json={
            "platform": "ro",
            "account_type": "main",
            "username": "u",
            "password": account_secret,
        },
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "name"]
    assert error["input"]["password"] == "***" and error["input"]["username"] == "u"
    assert account_secret not in response.text

    # Not only passwords: a refresh token given as a number is not echoed either.
    response = await clients.admin.post("/api/v1/auth/refresh", json={"refresh_token": 12345678})
    assert response.status_code == 422
    assert "12345678" not in response.text
    # Other fields keep FastAPI's usual answer, input included.
    response = await clients.admin.get("/api/v1/emag/orders", params={"limit": "many"})
    assert response.status_code == 422
    assert json.dumps(response.json()["detail"][0]["input"]) == '"many"'


async def test_the_error_shapes_are_in_one_place(accounts: Accounts, clients: Clients) -> None:
    """A client-side view of 404 and 422: JSON with ``detail``, read by the dashboard's client."""
    response = await clients.viewer.get("/api/v1/emag/returns", params={"account": "nope"})
    assert response.status_code == 404
    assert ApiError(404, response.json()["detail"]).message.startswith("no eMAG account")
