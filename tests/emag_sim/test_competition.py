"""Competing offers and the commission estimate in the simulator."""

from __future__ import annotations

import httpx

from magflow.emag_sim import SimulatorServer
from magflow.emag_sim.pricing_routes import commission_percent
from tests.emag_sim.conftest import Emag


def read(main: Emag, offer_id: int) -> dict[str, object]:
    rows = main.ok("product_offer/read", {"id": offer_id})
    assert len(rows) == 1
    row: dict[str, object] = rows[0]
    return row


def test_competitors_set_the_rank_and_ties_go_to_the_competitor(
    main: Emag, control: httpx.Client
) -> None:
    offer = read(main, 3)
    own = float(str(offer["sale_price"]))
    set_ = control.post(
        "/accounts/main/offers/3/competitors",
        json=[
            {"strategy": "hold", "price": own},  # a tie: the competitor keeps the Buy Button
            {"strategy": "dumper", "price": own / 3},
            {"strategy": "undercut", "price": own * 2, "floor": own / 2, "step": 0.5},
        ],
    )
    assert set_.status_code == 200, set_.text
    seen = read(main, 3)
    assert seen["number_of_offers"] == 4
    assert seen["buy_button_rank"] == 3
    assert seen["best_offer_sale_price"] == round(own / 3, 4)
    # The undercutter's turn: a step under the lowest other offer, never under its floor.
    ticked = control.post("/accounts/main/offers/3/competitors/tick").json()
    prices = {
        c["strategy"]: c["price"] for c in control.get("/accounts/main/offers/3/competitors").json()
    }
    assert prices["undercut"] == round(own / 2, 4)  # the dumper is below its floor
    assert ticked["buy_button_rank"] == 4
    bad = control.post("/accounts/main/offers/3/competitors", json=[{"strategy": "x", "price": 1}])
    assert bad.status_code == 400


def test_a_changed_offer_meets_its_generated_competitors(main: Emag) -> None:
    # Offer 20 (a tenth product) has a dumper among its generated rivals.
    before = read(main, 20)
    price = round(float(str(before["sale_price"])) * 0.99, 2)
    results = main.ok("offer/save", [{"id": 20, "sale_price": price}])
    assert results["20"]["isError"] is False
    after = read(main, 20)
    rivals = int(str(before["number_of_offers"])) - 1
    assert after["number_of_offers"] == rivals + 1
    assert rivals == 3  # seed 7
    best = float(str(before["best_offer_sale_price"]))
    assert float(str(after["best_offer_sale_price"])) <= best * 0.45 + 0.0001  # the dumper
    assert after["buy_button_rank"] != 1


def test_commission_estimate(sim: SimulatorServer, main: Emag) -> None:
    offer = read(main, 5)
    url = f"{sim.root_url}/api/v1/commission/estimate/5"
    answer = httpx.get(url, auth=("u-main", "p-main"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["value"] == commission_percent(int(str(offer["category_id"])))
    assert 7 <= body["value"] <= 25 and body["id"] == 5 and body["end_date"]
    assert httpx.get(url, auth=("u-main", "wrong")).status_code == 401
    missing = httpx.get(
        f"{sim.root_url}/api/v1/commission/estimate/999999", auth=("u-main", "p-main")
    )
    assert missing.status_code == 404 and "not found" in missing.json()["message"]
