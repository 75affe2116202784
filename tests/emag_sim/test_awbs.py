"""AWBs in the simulator (docs/emag-protocol.md, "AWBs and couriers"): the reservation-only answer
of ``awb/save``, ``awb/read``, the labels, ``addresses/read``, phones and enforced couriers."""

from __future__ import annotations

import base64

import httpx
import pytest

from magflow.emag_sim import SimConfig, SimulatorServer

from .conftest import Emag
from .test_orders import AWB, account


def awb_ready_order(main: Emag, control: httpx.Client, sim: SimulatorServer, remainder: int) -> int:
    """A new, acknowledged order (status 2) whose index is ``remainder`` mod 16 (the simulator's
    enforced-courier pattern: 5 → [1], 13 → [], others null)."""
    acc = account(sim, "main")
    count = (remainder - acc.n_orders) % 16 + 1
    created = control.post("/accounts/u-main/orders/new", json={"count": count}).json()["created"]
    order_id: int = created[-1]
    assert (order_id - acc.order_base) % 16 == remainder
    main.ok(f"order/acknowledge/{order_id}")
    return order_id


def label(sim: SimulatorServer, route: str, **params: object) -> httpx.Response:
    return httpx.get(
        f"{sim.root_url}/{route}", params=params, auth=("u-main", "p-main"), timeout=10
    )


def test_awb_save_answers_the_reservation_alone_every_other_time(
    main: Emag, sim: SimulatorServer, control: httpx.Client
) -> None:
    first = main.ok("awb/save", {**AWB, "order_id": awb_ready_order(main, control, sim, 0)})
    assert set(first) == {"reservation_id"}
    second = main.ok("awb/save", {**AWB, "order_id": awb_ready_order(main, control, sim, 1)})
    assert second["awb"][0]["awb_number"] and second["reservation_id"]
    (read,) = main.ok("awb/read", {"reservation_id": first["reservation_id"]})
    assert read["awb"][0]["awb_number"].startswith("4EMGSIM") and read["emag_id"]
    with pytest.raises(ValueError, match="awb_answer"):
        SimConfig(awb_answer="sometimes")


def test_labels_pdf_and_zpl_only_at_the_documented_url(
    main: Emag, sim: SimulatorServer, control: httpx.Client
) -> None:
    main.ok("awb/save", {**AWB, "order_id": awb_ready_order(main, control, sim, 0)})
    (awb,) = main.ok("awb/read", {"reservation_id": sim.state.reservation_counter})
    emag_id, number = awb["emag_id"], awb["awb"][0]["awb_number"]
    # under /api-3 the label URLs do not exist; at the root they do
    under_api = main.http.get("/awb/read_pdf", params={"emag_id": emag_id, "awb_format": "A4"})
    assert under_api.status_code == 404
    pdf = label(sim, "awb/read_pdf", emag_id=emag_id, awb_format="A6")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    assert b"/MediaBox [0 0 298 420]" in pdf.content and number.encode() in pdf.content
    # refusals are JSON envelopes
    for params in ({"emag_id": emag_id}, {"emag_id": 1, "awb_format": "A4"}, {}):
        refused = label(sim, "awb/read_pdf", **params)
        assert refused.status_code == 200 and refused.json()["isError"] is True, params
    zpl = label(sim, "awb/read_zpl", emag_id=emag_id).json()
    (content,) = zpl["results"]["deliveries"]["0"]["awbs"]["content"]
    program = base64.b64decode(content).decode()
    assert program.startswith("^XA") and number in program
    assert label(sim, "awb/read_zpl", emag_id=1).json()["isError"] is True


def test_addresses_and_phones(main: Emag, sim: SimulatorServer, control: httpx.Client) -> None:
    addresses = main.ok("addresses/read", {})
    assert {a["address_type_id"] for a in addresses} == {1, 2}
    assert all(isinstance(a["address_id"], str) for a in addresses)
    order_id = awb_ready_order(main, control, sim, 0)
    sender = AWB["sender"]
    unknown = {**AWB, "order_id": order_id, "sender": {**sender, "address_id": "999"}}
    assert "does not exist" in main.error("awb/save", unknown)[0]
    # an address_id does not replace the name, contact and phone
    bare = {**AWB, "order_id": order_id, "sender": {"address_id": addresses[0]["address_id"]}}
    assert "sender.name" in main.error("awb/save", bare)[0]
    for phone in ("0722 000 111", "+40-722000111", "1234567", "+407220001112", "07220001x1"):
        body = {**AWB, "order_id": order_id, "sender": {**sender, "phone1": phone}}
        assert "phone1" in main.error("awb/save", body)[0], phone
    body = {**AWB, "order_id": order_id, "receiver": {**AWB["receiver"], "phone2": "(0722)"}}
    assert "receiver.phone2" in main.error("awb/save", body)[0]


def test_enforced_courier_accounts_and_courier_types(
    main: Emag, sim: SimulatorServer, control: httpx.Client
) -> None:
    forbidden = awb_ready_order(main, control, sim, 13)
    read = main.ok("order/read", {"id": forbidden})[0]
    assert read["enforced_vendor_courier_accounts"] == []
    assert "cannot be issued" in main.error("awb/save", {**AWB, "order_id": forbidden})[0]
    enforced = awb_ready_order(main, control, sim, 5)
    assert main.ok("order/read", {"id": enforced})[0]["enforced_vendor_courier_accounts"] == [1]
    other = {**AWB, "order_id": enforced, "courier_account_id": 2}
    assert "must use one of the courier accounts 1" in main.error("awb/save", other)[0]
    free = awb_ready_order(main, control, sim, 0)
    returns_only = {**AWB, "order_id": free, "courier_account_id": 3}
    assert "cannot be used for orders" in main.error("awb/save", returns_only)[0]
    assert main.ok("awb/save", {**AWB, "order_id": enforced, "courier_account_id": 1})
