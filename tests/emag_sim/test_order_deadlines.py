"""The simulator's deadline fields (docs/emag-protocol.md, "Orders"): generated consistently, and
set by eMAG's side when an order reaches status 4. Pure: the state, no server."""

from __future__ import annotations

import random

from magflow.emag_sim import SimAccount, SimConfig
from magflow.emag_sim.data import parse_local
from magflow.emag_sim.state import DAY, SimState


def state() -> SimState:
    account = SimAccount(name="main", account_type="main", username="u", password="p")
    return SimState(SimConfig(seed=3, offers=10, orders=300, history_days=6, accounts=[account]))


def test_generated_orders_have_consistent_deadlines_and_flags() -> None:
    sim = state()
    acc = sim.accounts["u"]
    for idx in range(acc.n_orders):
        order = acc.get_order(idx)
        created = parse_local(order["date"], sim.tz)
        deadline = parse_local(order["maximum_date_for_shipment"], sim.tz)
        assert deadline - created in (DAY, 2 * DAY)
        if order["status"] in (4, 5):
            finalized = parse_local(order["finalization_date"], sim.tz)
            assert order["late_shipment"] == int(finalized > deadline)
        else:
            assert order["finalization_date"] is None
        if order["cancellation_request"]:
            assert order["status"] in (0, 1, 2, 3)
    statuses = [acc.get_order(i)["status"] for i in range(acc.n_orders)]
    assert 4 in statuses


def test_reaching_status_4_records_finalization_and_lateness() -> None:
    sim = state()
    acc = sim.accounts["u"]
    on_time, late = acc.add_orders(2, sim.anchor, random.Random(1))
    for order_id, after in ((on_time, 3600.0), (late, 3 * DAY)):
        idx = acc.order_index(order_id)
        assert idx is not None
        now = sim.anchor + after
        order = acc.set_order_status(idx, 4, now)
        assert parse_local(order["finalization_date"], sim.tz) == int(now)
        deadline = parse_local(order["maximum_date_for_shipment"], sim.tz)
        assert deadline <= sim.anchor + 2 * DAY
        assert order["late_shipment"] == int(now > deadline)
    assert (acc.get_order_by_id(late) or {})["late_shipment"] == 1
