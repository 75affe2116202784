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
        kinds = ("order", "cancellation", "return", "awb", "documentation")
        urls = {k: f"{server.url}/cb/{k}" for k in kinds}
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


def test_return_status_changes_and_documentation_approvals_call_back(
    control: httpx.Client, main: Emag, received: list[tuple[str, dict[str, str]]]
) -> None:
    order_id = new_order(control)
    assert control.post(f"/accounts/main/orders/{order_id}/edit", json={"status": 5}).is_success
    (rma,) = main.ok("rma/read", {"order_id": order_id})
    query = {"order_id": str(order_id), "rma_id": str(rma["emag_id"])}
    wait_for(lambda: ("return", query) in received)  # a new return
    # Only the moves eMAG's RMA matrix allows (docs/emag-protocol.md, "Returns").
    path = f"/accounts/main/returns/{rma['emag_id']}/status"
    before = rma["request_status"]
    assert control.post(path, json={"request_status": 1}).status_code == 400
    after = {2: 3, 3: 6, 6: 7}[before]
    assert control.post(path, json={"request_status": after}).json()["request_status"] == after
    wait_for(lambda: received.count(("return", query)) == 2)  # its status changed
    (read,) = main.ok("rma/read", {"order_id": order_id})
    assert read["request_status"] == after
    # Documentation approval: only an offer awaiting review, then the callback names it.
    offers = main.ok("product_offer/read", {"validation_status": 3})
    approve = f"/accounts/main/offers/{offers[0]['id']}/approve-documentation"
    assert control.post(approve).json()["validation_status"][0]["value"] == 9
    wait_for(lambda: ("documentation", {"product_id": str(offers[0]["id"])}) in received)
    assert control.post(approve).status_code == 400  # approved already
