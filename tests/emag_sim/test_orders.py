"""Order rules (docs/emag-protocol.md, "Paging, counts and filters", "Orders", "AWBs and couriers")
against the simulator."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from magflow.emag_sim import SimulatorServer
from magflow.emag_sim.state import AccountState

from .conftest import Emag

AWB = {
    "sender": {
        "name": "MagFlow Sim SRL",
        "contact": "Depozit",
        "phone1": "+40722000111",
        "address_id": "1001",
    },
    "receiver": {
        "name": "Ion Popescu",
        "contact": "Ion Popescu",
        "phone1": "0722123456",
        "locality_id": 1,
        "street": "Str. Florilor 1",
        "legal_entity": 0,
    },
    "is_oversize": 0,
    "cod": 0,
    "envelope_number": 0,
    "parcel_number": 1,
}


def account(sim: SimulatorServer, name: str) -> AccountState:
    acc = sim.state.account(name)
    assert acc is not None
    return acc


def find(acc: AccountState, status: int, otype: int = 3, skip: int = 0) -> int:
    """An order id of ``acc`` with ``status`` and ``otype``."""
    matches = [
        acc.order_base + i
        for i in range(acc.n_orders)
        if acc.status[i] == status and acc.otype[i] == otype
    ]
    return matches[skip]


def new_order(control: httpx.Client, username: str = "u-main") -> int:
    created: list[int] = control.post(f"/accounts/{username}/orders/new", json={"count": 1}).json()[
        "created"
    ]
    return created[0]


def read_order(client: Emag, order_id: int, otype: int = 3) -> dict[str, Any]:
    rows = client.ok("order/read", {"id": order_id, "type": otype})
    assert len(rows) == 1
    order: dict[str, Any] = rows[0]
    return order


def test_read_defaults_to_type_3(fbe: Emag, sim: SimulatorServer) -> None:
    acc = account(sim, "fbe")
    type2 = sum(1 for t in acc.otype if t == 2)
    type3 = acc.n_orders - type2
    assert type2 and type3
    assert int(fbe.ok("order/count", {})["noOfItems"]) == type3
    assert int(fbe.ok("order/count", {"type": 2})["noOfItems"]) == type2
    assert int(fbe.ok("order/count", {"type": [2, 3]})["noOfItems"]) == acc.n_orders
    rows = fbe.ok("order/read", {"itemsPerPage": 100})
    assert {row["type"] for row in rows} == {3}
    fbe_id = find(acc, 4, otype=2)
    assert fbe.ok("order/read", {"id": fbe_id}) == []
    assert fbe.ok("order/read", {"id": fbe_id, "type": 2})[0]["id"] == fbe_id


def test_order_shape_has_php_quirks(main: Emag, sim: SimulatorServer) -> None:
    rows = main.ok("order/read", {"itemsPerPage": 100})
    order = rows[0]
    for key in ("id", "status", "type", "payment_mode_id", "date", "modified", "customer",
                "products", "details", "vouchers", "attachments", "shipping_tax"):  # fmt: skip
        assert key in order
    line = order["products"][0]
    assert isinstance(line["sale_price"], str) and len(line["sale_price"].split(".")[1]) == 4
    assert line["vat"] == "0.2100"
    assert any(row["details"] == [] for row in rows)  # empty dict-like field as []
    assert any(
        isinstance(row["products"][-1]["quantity"], str) for row in rows if len(row["products"]) > 1
    )
    datetime.strptime(order["date"], "%Y-%m-%d %H:%M:%S")
    assert order["currency"] == "RON"


def test_filters_status_payment_and_dates(main: Emag, sim: SimulatorServer) -> None:
    acc = account(sim, "main")
    both = {"type": [2, 3]}  # a MAIN account holds both types
    tz = ZoneInfo("Europe/Bucharest")
    want = [i for i in range(acc.n_orders) if acc.status[i] in (0, 5)]
    assert int(main.ok("order/count", {**both, "status": [0, 5]})["noOfItems"]) == len(want)
    card = [i for i in range(acc.n_orders) if acc.pay[i] == 3 and acc.status[i] == 4]
    count = main.ok("order/count", {**both, "payment_mode_id": 3, "status": 4})
    assert int(count["noOfItems"]) == len(card)
    # createdAfter/createdBefore in platform-local time, inclusive
    lo, hi = acc.created[100], acc.created[199]
    fmt = "%Y-%m-%d %H:%M:%S"
    body = {
        **both,
        "createdAfter": datetime.fromtimestamp(lo, tz).strftime(fmt),
        "createdBefore": datetime.fromtimestamp(hi, tz).strftime(fmt),
    }
    rows = main.ok("order/read", body)
    assert [r["id"] for r in rows] == [acc.order_base + i for i in range(100, 200)]
    assert rows[0]["date"] == body["createdAfter"]
    mod_lo = acc.modified[300]
    mod_hi = mod_lo + 28 * 86400  # both bounds, at most a month apart
    expect = sum(1 for m in acc.modified if mod_lo <= m <= mod_hi)
    count = main.ok(
        "order/count",
        {
            **both,
            "modifiedAfter": datetime.fromtimestamp(mod_lo, tz).strftime(fmt),
            "modifiedBefore": datetime.fromtimestamp(mod_hi, tz).strftime(fmt),
        },
    )
    assert int(count["noOfItems"]) == expect
    assert main.error("order/read", {"createdAfter": "yesterday"})


def test_acknowledge_is_the_only_way_from_1_to_2(main: Emag, control: httpx.Client) -> None:
    order_id = new_order(control)
    order = read_order(main, order_id)
    assert order["status"] == 1
    messages = main.error("order/save", [{**order, "status": 2}])
    assert "acknowledg" in messages[0]
    assert read_order(main, order_id)["status"] == 1
    assert main.ok(f"order/acknowledge/{order_id}") == []
    assert read_order(main, order_id)["status"] == 2
    assert main.ok(f"order/acknowledge/{order_id}") == []  # idempotent in status 2
    assert main.error("order/acknowledge/1")  # unknown order


def test_acknowledge_refused_outside_status_1(main: Emag, fbe: Emag, sim: SimulatorServer) -> None:
    finalized = find(account(sim, "main"), 4)
    assert main.error(f"order/acknowledge/{finalized}")
    assert read_order(main, finalized)["status"] == 4
    fbe_order = find(account(sim, "fbe"), 4, otype=2)
    assert fbe.error(f"order/acknowledge/{fbe_order}")


def test_awb_moves_order_to_4(main: Emag, control: httpx.Client) -> None:
    order_id = new_order(control)
    assert "acknowledged" in main.error("awb/save", {**AWB, "order_id": order_id})[0]
    main.ok(f"order/acknowledge/{order_id}")
    result = main.ok("awb/save", {**AWB, "order_id": order_id})
    assert result["reservation_id"]
    assert read_order(main, order_id)["status"] == 4
    awb = main.ok("awb/read", {"reservation_id": result["reservation_id"]})[0]
    assert awb["order_id"] == order_id and awb["courier"]["courier_name"]
    assert main.ok("awb/read", {"emag_id": awb["emag_id"]})[0] == awb
    bad = {**AWB, "order_id": order_id, "parcel_number": 0}
    assert "both be 0" in main.error("awb/save", bad)[0]


def test_order_save_needs_the_full_order(main: Emag, control: httpx.Client) -> None:
    order = _acked(main, control)
    order_id = order["id"]
    messages = main.error("order/save", [{"id": order_id, "status": 3}])
    assert "missing fields" in messages[0]
    main.ok("order/save", [{**order, "status": 3}])
    saved = read_order(main, order_id)
    assert saved["status"] == 3 and saved["modified"] >= order["modified"]


def _acked(main: Emag, control: httpx.Client) -> dict[str, Any]:
    order_id = new_order(control)
    main.ok(f"order/acknowledge/{order_id}")
    return read_order(main, order_id)


def test_order_save_cannot_change_prices_or_ids(main: Emag, control: httpx.Client) -> None:
    order = _acked(main, control)
    line = order["products"][0]
    changed = {**order, "products": [{**line, "sale_price": "1.0000"}, *order["products"][1:]]}
    assert "prices cannot be changed" in main.error("order/save", [changed])[0]
    changed = {**order, "products": [{**line, "product_id": 99999}, *order["products"][1:]]}
    assert "product_id" in main.error("order/save", [changed])[0]
    same_price = {**line, "sale_price": float(line["sale_price"])}  # numerically equal: fine
    main.ok("order/save", [{**order, "products": [same_price, *order["products"][1:]]}])


def test_order_save_edits_lines_in_status_2(main: Emag, control: httpx.Client) -> None:
    order = _acked(main, control)
    line = order["products"][0]
    extra = {"product_id": 5, "name": "Discount", "status": 1, "sale_price": "-10", "quantity": 1}
    if order["payment_mode_id"] == 3:
        body = {**order, "products": [*order["products"], extra]}
    else:
        body = {**order, "products": [{**line, "quantity": int(line["quantity"]) + 1}, extra]}
    main.ok("order/save", [body])
    saved = read_order(main, order["id"])
    assert len(saved["products"]) >= 2
    assert any(p["name"] == "Discount" for p in saved["products"])
    negative = {**saved, "products": [{**saved["products"][0], "quantity": -1}]}
    assert "negative" in main.error("order/save", [negative])[0]


def test_storno_rules_on_finalized_orders(main: Emag, sim: SimulatorServer) -> None:
    acc = account(sim, "main")
    order_id = find(acc, 4)
    idx = order_id - acc.order_base
    acc.status_since[idx] = time.time()  # within 48 h
    order = read_order(main, order_id)
    reduced = {**order["products"][0], "status": 0}
    changed = {**order, "products": [reduced, *order["products"][1:]]}
    assert "is_storno" in main.error("order/save", [changed])[0]
    assert (
        "without any product change" in main.error("order/save", [{**order, "is_storno": True}])[0]
    )
    main.ok("order/save", [{**changed, "is_storno": True}])
    saved = read_order(main, order_id)
    assert saved["is_storno"] is True and saved["products"][0]["status"] == 0
    other = read_order(main, find(acc, 2)) if 2 in acc.status else None
    if other is not None:
        assert "status 4" in main.error("order/save", [{**other, "is_storno": True}])[0]


@pytest.mark.parametrize(
    ("current", "new", "hours_ago", "allowed"),
    [
        (2, 3, 1, True),
        (2, 0, 1, True),
        (2, 1, 1, False),
        (3, 2, 1, False),
        (3, 4, 1, True),
        (4, 3, 1, True),
        (4, 3, 72, False),
        (4, 0, 47, True),
        (4, 0, 49, False),
        (4, 5, 24 * 20, True),
        (4, 5, 24 * 40, False),
        (0, 2, 1, True),
        (0, 4, 72, False),
        (5, 4, 1, False),
        (4, 4, 500, True),
    ],
)
def test_status_matrix(
    main: Emag, sim: SimulatorServer, current: int, new: int, hours_ago: int, allowed: bool
) -> None:
    acc = account(sim, "main")
    idx = find(acc, 4) - acc.order_base
    acc.set_order_status(idx, current, time.time())  # put it in the wanted status
    acc.status_since[idx] = time.time() - hours_ago * 3600
    order = read_order(main, acc.order_base + idx)
    body = [{**order, "status": new}]
    if allowed:
        main.ok("order/save", body)
        assert read_order(main, order["id"])["status"] == new
    else:
        assert main.error("order/save", body)
        assert read_order(main, order["id"])["status"] == current


def test_fbe_orders_are_read_only_except_attachments(fbe: Emag, sim: SimulatorServer) -> None:
    order_id = find(account(sim, "fbe"), 4, otype=2)
    order = read_order(fbe, order_id, otype=2)
    assert "read-only" in fbe.error("order/save", [{**order, "status": 4}])[0]
    assert fbe.error("awb/save", {**AWB, "order_id": order_id})
    attachment = {
        "order_id": order_id,
        "order_type": 2,
        "name": "Factura 1",
        "url": "https://example.invalid/f1.pdf",
        "type": 1,
    }
    fbe.ok("order/attachments/save", [attachment])
    saved = read_order(fbe, order_id, otype=2)
    assert any(a["url"] == attachment["url"] for a in saved["attachments"])
    assert (
        "PDF" in fbe.error("order/attachments/save", [{**attachment, "url": "https://x/f.docx"}])[0]
    )
    assert fbe.error("order/attachments/save", [{**attachment, "order_type": 3}])


def test_new_and_modified_orders_via_control_api(
    main: Emag, control: httpx.Client, sim: SimulatorServer
) -> None:
    tz = ZoneInfo("Europe/Bucharest")
    before = int(main.ok("order/count", {})["noOfItems"])
    since = datetime.fromtimestamp(time.time() - 2, tz).strftime("%Y-%m-%d %H:%M:%S")
    created = control.post("/accounts/main/orders/new", json={"count": 5}).json()["created"]
    assert len(created) == 5
    assert int(main.ok("order/count", {})["noOfItems"]) == before + 5
    until = datetime.fromtimestamp(time.time() + 60, tz).strftime("%Y-%m-%d %H:%M:%S")
    fresh = main.ok("order/read", {"createdAfter": since, "createdBefore": until})
    assert [row["id"] for row in fresh] == created
    assert {row["status"] for row in fresh} == {1}
    modified = control.post("/accounts/u-main/orders/modify", json={"count": 8}).json()["modified"]
    assert len(modified) == 8
    for change in modified:
        assert change["to"] in {0, 3, 4, 5} or change["to"] == change["from"]
    rows = main.ok("order/read", {"modifiedAfter": since, "modifiedBefore": until, "type": [2, 3]})
    ids = {row["id"] for row in rows}
    assert {c["id"] for c in modified} <= ids
    assert set(created) <= ids
    direct = control.get(f"/accounts/main/orders/{created[0]}").json()
    assert direct["id"] == created[0]
    assert control.post("/accounts/nobody/orders/new", json={"count": 1}).status_code == 404


def test_order_filters_refuse_more_than_one_month_between_two_date_bounds(main: Emag) -> None:
    """eMAG: "Maximum 1 month difference" between createdAfter/createdBefore and between
    modifiedAfter/modifiedBefore, on read and count (docs/emag-protocol.md, "Paging, counts and
    filters"); one calendar month exactly passes, 31 January to 28 February included."""
    for after, before in (("createdAfter", "createdBefore"), ("modifiedAfter", "modifiedBefore")):
        too_long = {after: "2026-09-01 00:00:00", before: "2026-10-11 00:00:00"}  # 40 days
        for route in ("order/read", "order/count"):
            messages = main.error(route, too_long)
            assert messages == [f"Maximum 1 month difference between {after} and {before}"]
        past_february = {after: "2026-01-31 10:00:00", before: "2026-03-01 10:00:00"}
        assert main.error("order/read", past_february)
        assert main.error("order/count", past_february)
        for ok_window in (
            {after: "2026-09-01 00:00:00", before: "2026-10-01 00:00:00"},
            {after: "2026-01-31 10:00:00", before: "2026-02-28 10:00:00"},
            {after: "2026-09-01 00:00:00", before: "2026-09-29 00:00:00"},  # 28 days
        ):
            main.ok("order/read", ok_window)
            main.ok("order/count", ok_window)


def test_fbe_orders_on_a_main_account_take_attachments_only(
    main: Emag, control: httpx.Client
) -> None:
    """The type is per order: an FBE order on a MAIN account is eMAG's to acknowledge, change and
    ship (docs/emag-protocol.md, "Orders")."""
    created = control.post("/accounts/main/orders/new", json={"count": 1, "type": 2}).json()
    order_id = created["created"][0]
    assert main.ok("order/read", {"id": order_id}) == []  # order/read defaults to type 3
    order = read_order(main, order_id, otype=2)
    assert order["status"] == 1
    assert "fulfilled by eMAG" in main.error(f"order/acknowledge/{order_id}")[0]
    assert (
        "read-only"
        in main.error("order/save", [{**order, "status": 0, "reason_cancellation": 2}])[0]
    )
    assert "fulfilled by eMAG" in main.error("awb/save", {**AWB, "order_id": order_id})[0]
    attachment = {
        "order_id": order_id,
        "order_type": 2,
        "name": "Factura",
        "url": "https://x/f.pdf",
    }
    main.ok("order/attachments/save", [attachment])
    assert control.post("/accounts/main/orders/new", json={"type": 4}).status_code == 400


def test_an_emag_side_edit_is_undone_by_a_stale_save_and_kept_by_a_fresh_one(
    main: Emag, control: httpx.Client
) -> None:
    """``order/save`` takes the order as sent ("send ALL the fields initially read",
    docs/emag-protocol.md, "Orders"): an edit made on eMAG's side between a read and a save
    survives only a save of a copy read after it."""
    order_id = new_order(control)
    main.ok(f"order/acknowledge/{order_id}")
    stale = read_order(main, order_id)
    edit = {"customer": {"shipping_street": "Str. Noua 9"}, "observation": "Sunati inainte"}
    edited = control.post(f"/accounts/main/orders/{order_id}/edit", json=edit).json()
    assert edited["customer"]["shipping_street"] == "Str. Noua 9"
    assert edited["customer"]["name"] == stale["customer"]["name"]  # merged, not replaced
    fresh = read_order(main, order_id)
    assert fresh["observation"] == "Sunati inainte" and fresh["modified"] >= stale["modified"]

    main.ok("order/save", [{**fresh, "status": 3}])
    kept = read_order(main, order_id)
    assert kept["status"] == 3 and kept["customer"]["shipping_street"] == "Str. Noua 9"
    main.ok("order/save", [{**stale, "status": 4}])
    undone = read_order(main, order_id)
    assert undone["status"] == 4
    assert undone["customer"]["shipping_street"] == stale["customer"]["shipping_street"]
    assert undone["observation"] == stale["observation"]

    # a status set in eMAG's UI, outside the API's matrix
    assert (
        control.post(f"/accounts/main/orders/{order_id}/edit", json={"status": 2}).status_code
        == 200
    )
    assert read_order(main, order_id)["status"] == 2
    assert control.post("/accounts/main/orders/1/edit", json={"status": 2}).status_code == 404
    assert control.post(f"/accounts/main/orders/{order_id}/edit", json={}).status_code == 400


def test_the_edit_after_read_fault_edits_a_read_order_once(
    main: Emag, control: httpx.Client
) -> None:
    """``edit_after_read``: the order changes on eMAG's side right after it was read (the answer
    itself is as before), at most once per order."""
    order_id = new_order(control)
    assert control.post("/faults", json={"edit": 1.0}).json()["edit_after_read"] == 1.0
    first = read_order(main, order_id)
    second = read_order(main, order_id)
    street = first["customer"]["shipping_street"]
    assert second["customer"]["shipping_street"] == f"{street} (changed by the customer)"
    assert second["observation"] and not first["observation"]
    assert read_order(main, order_id) == second
    assert control.get("/stats").json()["faults"] == {"edit_after_read": 1}


def test_order_filters_refuse_a_date_bound_without_its_pair(main: Emag) -> None:
    """[DOC]: on order/count each date bound "can only be set if the other is present"; the
    simulator applies it to order/read too, the strict reading (docs/emag-protocol.md, "Paging,
    counts and filters"), so that MagFlow is held to always sending both."""
    for after, before in (("createdAfter", "createdBefore"), ("modifiedAfter", "modifiedBefore")):
        for route in ("order/read", "order/count"):
            assert main.error(route, {after: "2026-01-01 00:00:00"}) == [
                f"{after} can only be set if {before} is present"
            ]
            assert main.error(route, {before: "2026-01-01 00:00:00"}) == [
                f"{before} can only be set if {after} is present"
            ]
    # Bounds of two different pairs are two lone bounds.
    assert main.error(
        "order/read", {"createdAfter": "2026-01-01 00:00:00", "modifiedBefore": "2026-11-01"}
    )
    main.ok("order/read", {"id": 1})  # no date at all is fine
