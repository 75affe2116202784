"""AWB numbers, labels, sender defaults, enforced couriers and phones against the simulator
(docs/emag-protocol.md, "AWBs and couriers")."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.orders.models import EmagOrder
from tests.orders.support import Clients, route_count, sim_control, sim_stats
from tests.orders.test_actions import SENDER, local_orders, new_orders
from tests.support.simulation import Accounts


async def acknowledged(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients, n: int
) -> list[EmagOrder]:
    orders = await new_orders(ctx, sim, accounts, n)
    response = await clients.operator.post(
        "/api/v1/emag/orders/acknowledge", json={"ids": [o.id for o in orders]}
    )
    assert response.status_code == 200 and all(r["ok"] for r in response.json())
    return orders


async def test_number_read_back_and_labels(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    api = clients.operator
    order, other = await acknowledged(ctx, sim, accounts, clients, 2)
    label = f"/api/v1/emag/orders/{order.id}/awb/label"
    # no AWB yet: nothing to print
    assert (await api.get(label)).status_code == 404

    # The simulator answers the first awb/save with reservation_id alone: the number is read
    # back with awb/read. The sender's phone is written the way people do (eMAG refuses spaces).
    sender = {**SENDER, "phone1": "0722 000-111"}
    response = await api.post(f"/api/v1/emag/orders/{order.id}/awb", json={"sender": sender})
    assert response.status_code == 200, response.text
    awb = response.json()["awb"]
    assert awb["awb_number"].startswith("4EMGSIM") and awb["emag_id"] and awb["reservation_id"]
    assert route_count(await sim_stats(sim), "awb/read") == 1
    stored = (await local_orders(ctx, accounts.main.id))[order.emag_id]
    assert (stored.awb_number, stored.awb_emag_id) == (awb["awb_number"], awb["emag_id"])

    # labels: the PDF in the paper asked (A6: 298 x 420 points), ZPL for label printers
    pdf = await api.get(label, params={"format": "A6"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and b"/MediaBox [0 0 298 420]" in pdf.content
    assert awb["awb_number"].encode() in pdf.content
    a4 = await api.get(label)
    assert a4.status_code == 200 and b"/MediaBox [0 0 595 842]" in a4.content
    zpl = await api.get(label, params={"format": "ZPL"})
    assert zpl.status_code == 200 and zpl.headers["content-type"] == "application/zpl"
    assert zpl.text.startswith("^XA") and awb["awb_number"] in zpl.text
    assert (await api.get(label, params={"format": "A7"})).status_code == 422
    # a label shows the customer's address: not for viewers
    assert (await clients.viewer.get(label)).status_code == 403

    # eMAG's refusal comes back as a 422 with its own message
    async with ctx.db.session() as session:
        await session.execute(
            update(EmagOrder).where(EmagOrder.id == other.id).values(awb_emag_id=1)
        )
        await session.commit()
    refused = await api.get(f"/api/v1/emag/orders/{other.id}/awb/label")
    assert refused.status_code == 422, refused.text
    assert any("does not exist" in m for m in refused.json()["detail"]["emag_messages"])


async def test_sender_defaults_per_account(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    addresses = await clients.operator.get("/api/v1/accounts/main/addresses")
    assert addresses.status_code == 200, addresses.text
    pickup = next(a for a in addresses.json() if a["address_type_id"] == 2)
    defaults: dict[str, Any] = {
        "name": "MagFlow Test SRL",
        "contact": "Depozit",
        "phone1": "+40 722 000 111",
        "address_id": pickup["address_id"],
    }
    # admins set them; the phone is stored as eMAG accepts it
    patch = "/api/v1/accounts/main"
    assert (await clients.operator.patch(patch, json={"awb_sender": defaults})).status_code == 403
    response = await clients.admin.patch(patch, json={"awb_sender": defaults})
    assert response.status_code == 200, response.text
    assert response.json()["awb_sender"] == {**defaults, "phone1": "+40722000111"}
    no_address = {k: v for k, v in defaults.items() if k != "address_id"}
    assert (await clients.admin.patch(patch, json={"awb_sender": no_address})).status_code == 422

    # an AWB without a sender uses them; a request's field overrides its default
    order, other = await acknowledged(ctx, sim, accounts, clients, 2)
    response = await clients.operator.post(f"/api/v1/emag/orders/{order.id}/awb", json={})
    assert response.status_code == 200, response.text
    overridden = {"sender": {"phone1": "07 22 00 01 11"}, "parcel_number": 0}
    response = await clients.operator.post(f"/api/v1/emag/orders/{other.id}/awb", json=overridden)
    assert "cannot both be 0" in response.text  # eMAG's own check, past the sender's
    # removed: a sender is needed again
    assert (await clients.admin.patch(patch, json={"awb_sender": None})).json()[
        "awb_sender"
    ] is None
    response = await clients.operator.post(f"/api/v1/emag/orders/{other.id}/awb", json={})
    assert response.status_code == 422 and "no AWB sender" in response.text


async def test_enforced_couriers_and_phones_checked_before_emag(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    # The simulator enforces courier account 1 on orders of index 5 mod 16 and refuses AWBs from
    # the marketplace on index 13 mod 16: 14 new orders cover both.
    base = (await sim_control(sim, "GET", "/_sim/accounts"))[0]["order_id_range"][0]
    orders = await acknowledged(ctx, sim, accounts, clients, 14)
    by_rest = {(o.emag_id - base) % 16: o for o in orders}
    none_allowed, only_one = by_rest[13], by_rest[5]
    assert none_allowed.raw["enforced_vendor_courier_accounts"] == []
    api = clients.operator
    before = route_count(await sim_stats(sim), "awb/save")

    response = await api.post(f"/api/v1/emag/orders/{none_allowed.id}/awb", json={"sender": SENDER})
    assert response.status_code == 422 and "enforced_vendor_courier_accounts" in response.text
    wrong = {"sender": SENDER, "courier_account_id": 2}
    response = await api.post(f"/api/v1/emag/orders/{only_one.id}/awb", json=wrong)
    assert response.status_code == 422 and "courier accounts 1" in response.text
    bad_phone = {"sender": {**SENDER, "phone1": "+40 722 000 111 222"}}
    response = await api.post(f"/api/v1/emag/orders/{only_one.id}/awb", json=bad_phone)
    assert response.status_code == 422 and "sender.phone1" in response.text
    assert route_count(await sim_stats(sim), "awb/save") == before  # eMAG never asked

    # with no courier asked, the enforced one is sent
    response = await api.post(f"/api/v1/emag/orders/{only_one.id}/awb", json={"sender": SENDER})
    assert response.status_code == 200, response.text
    assert response.json()["awb"]["courier_account_id"] == 1
