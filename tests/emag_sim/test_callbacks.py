"""The simulator fires eMAG's callbacks (docs/emag-protocol.md, "Callbacks"): per-account URLs,
the new-order one repeated until the order is acknowledged, the others on their events."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI, Request

from magflow.emag_sim import SimulatorServer
from tests.emag_sim.conftest import Emag
from tests.emag_sim.test_orders import AWB, new_order
from tests.support.servers import UvicornThread


@pytest.fixture
def received(
    sim: SimulatorServer, control: httpx.Client
) -> Iterator[list[tuple[str, dict[str, str]]]]:
    """A seller's endpoint recording each call, configured as the account's callback URLs."""
    calls: list[tuple[str, dict[str, str]]] = []
    app = FastAPI()

    @app.get("/cb/{kind}")
    async def record(kind: str, request: Request) -> dict[str, bool]:
        calls.append((kind, dict(request.query_params)))
        return {"ok": True}

    with UvicornThread(app) as server:
        urls = {k: f"{server.url}/cb/{k}" for k in ("order", "cancellation", "return", "awb")}
        assert control.post("/accounts/main/callbacks", json=urls).status_code == 200
        yield calls
        control.post("/accounts/main/callbacks", json={})
        assert sim.simulator is not None
        sim.simulator.callbacks.repeat_seconds = sim.config.callback_repeat_seconds


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, "the simulator did not call back"
        time.sleep(0.05)


def test_new_order_callbacks_repeat_until_acknowledged(
    sim: SimulatorServer,
    control: httpx.Client,
    main: Emag,
    received: list[tuple[str, dict[str, str]]],
) -> None:
    sim.simulator.callbacks.repeat_seconds = 0.1  # type: ignore[union-attr]
    order_id = new_order(control)
    calls = [("order", {"order_id": str(order_id)})]
    wait_for(lambda: received.count(calls[0]) >= 3)  # repeated while the order is new
    main.ok(f"order/acknowledge/{order_id}")
    wait_for(lambda: control.get("/callbacks").json()["pending"] == 0)  # and no more after
    main.ok("awb/save", {**AWB, "order_id": order_id})
    wait_for(lambda: any(kind == "awb" for kind, _ in received))
    awb = next(query for kind, query in received if kind == "awb")
    assert awb["order_id"] == str(order_id) and int(awb["awb_id"]) > 0


def test_a_cancelled_new_order_is_announced_and_its_repeats_end(
    sim: SimulatorServer, control: httpx.Client, received: list[tuple[str, dict[str, str]]]
) -> None:
    sim.simulator.callbacks.repeat_seconds = 0.1  # type: ignore[union-attr]
    order_id = new_order(control)
    wait_for(lambda: ("order", {"order_id": str(order_id)}) in received)
    acc = sim.state.account("main")
    assert acc is not None
    idx = acc.order_index(order_id)
    assert idx is not None
    acc.set_order_status(idx, 0, time.time())  # the customer cancels before acknowledgement
    wait_for(lambda: ("cancellation", {"order_id": str(order_id)}) in received)
    wait_for(lambda: control.get("/callbacks").json()["pending"] == 0)
