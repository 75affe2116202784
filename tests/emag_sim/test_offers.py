"""Offer rules (docs/emag-protocol.md, "Offers") against the simulator."""

from __future__ import annotations

from typing import Any

from magflow.emag_sim import SimulatorServer

from .conftest import Emag

NEW = {
    "id": 5000,
    "category_id": 101,
    "name": "Senzor nou",
    "part_number": "NEW 1,2;3",
    "brand": "Generic",
    "status": 1,
    "sale_price": 100,
    "min_sale_price": 80,
    "max_sale_price": 150,
    "vat_id": 1,
    "stock": [{"warehouse_id": 1, "value": 7}],
    "handling_time": [{"warehouse_id": 1, "value": 1}],
}


def read_offer(client: Emag, offer_id: int) -> dict[str, Any]:
    rows = client.ok("product_offer/read", {"id": offer_id})
    assert len(rows) == 1
    offer: dict[str, Any] = rows[0]
    return offer


def test_offer_read_fields(main: Emag) -> None:
    rows = main.ok("product_offer/read", {"itemsPerPage": 10})
    offer = rows[0]
    for key in ("id", "part_number_key", "category_id", "brand", "name", "part_number", "ean",
                "sale_price", "recommended_price", "general_stock", "estimated_stock",
                "status", "images", "characteristics", "vat_id", "handling_time",
                "number_of_offers", "buy_button_rank", "best_offer_sale_price", "ownership",
                "validation_status", "translation_validation_status", "offer_validation_status",
                "genius_eligibility", "genius_eligibility_type", "genius_computed",
                "manufacturer", "eu_representative", "currency"):  # fmt: skip
        assert key in offer, key
    assert isinstance(offer["stock"], list) and offer["stock"][0]["warehouse_id"] == 1
    # stock[] is a save-body field, not a documented read field (docs/emag-protocol.md, "Offers"):
    # a third of the offers are read without it; general_stock is always there.
    without = [row for row in rows if "stock" not in row]
    assert [row["id"] for row in without] == [row["id"] for row in rows if row["id"] % 3 == 2]
    assert without and all(isinstance(row["general_stock"], int) for row in without)
    assert isinstance(offer["validation_status"], list)
    assert isinstance(offer["manufacturer"], bool)  # unfiltered: flags
    assert any(isinstance(row["sale_price"], str) for row in rows)  # PHP quirk
    filtered = read_offer(main, offer["id"])
    assert isinstance(filtered["manufacturer"], list)  # filtered by product: lists


def test_offer_filters(main: Emag, sim: SimulatorServer) -> None:
    acc = sim.state.account("main")
    assert acc is not None
    inactive = sum(1 for s in acc.offer_status if s == 0)
    assert int(main.ok("product_offer/count", {"status": 0})["noOfItems"]) == inactive
    low = sum(1 for s in acc.offer_stock if s <= 5)
    assert int(main.ok("product_offer/count", {"general_stock": 5})["noOfItems"]) == low
    sample = main.ok("product_offer/read", {"itemsPerPage": 3, "currentPage": 2})[1]
    by_pn = main.ok("product_offer/read", {"part_number": sample["part_number"]})
    by_pnk = main.ok("product_offer/read", {"part_number_key": sample["part_number_key"]})
    assert [r["id"] for r in by_pn] == [r["id"] for r in by_pnk] == [sample["id"]]


def test_new_offer_needs_min_and_max(main: Emag) -> None:
    item = {k: v for k, v in NEW.items() if k not in ("min_sale_price", "max_sale_price")}
    messages = main.error("product_offer/save", [item])
    assert "mandatory on the first save" in messages[0]
    assert main.ok("product_offer/read", {"id": 5000}) == []
    main.ok("product_offer/save", [NEW])
    offer = read_offer(main, 5000)
    assert offer["part_number"] == "NEW123"  # spaces, commas and semicolons stripped
    assert offer["general_stock"] == 7 and offer["sale_price"] == 100
    # later updates need no min/max (they are kept)
    main.ok("product_offer/save", [{"id": 5000, "status": 1, "sale_price": 120, "vat_id": 1}])
    assert read_offer(main, 5000)["sale_price"] == 120


def test_offer_price_rules(main: Emag) -> None:
    def save_error(**changes: Any) -> str:
        return main.error("product_offer/save", [{**NEW, **changes}])[0]

    assert "lower than min_sale_price" in save_error(sale_price=50)
    assert "greater than max_sale_price" in save_error(sale_price=200)
    assert "max_sale_price must be greater" in save_error(min_sale_price=150, max_sale_price=100)
    assert "recommended_price must be greater" in save_error(recommended_price=90)
    assert "at most 4 decimals" in save_error(sale_price="100.12345")
    assert "stock" in save_error(stock=5)  # stock is a list (docs/emag-protocol.md, "Offers")
    assert "vat_id" in save_error(vat_id=99)
    assert "end of life" in save_error(status=2)
    main.ok("product_offer/save", [{**NEW, "recommended_price": 130}])
    # an existing offer: sale price checked against its stored min/max
    assert (
        "greater than max_sale_price"
        in main.error(
            "product_offer/save", [{"id": 5000, "status": 1, "sale_price": 151, "vat_id": 1}]
        )[0]
    )


def test_product_offer_save_reports_each_failure(main: Emag) -> None:
    good = {**NEW, "id": 5001, "part_number": "OK-1"}
    bad = {**NEW, "id": 5002, "part_number": "BAD-1", "sale_price": 1}
    messages = main.error("product_offer/save", [good, bad])
    assert len(messages) == 1 and messages[0].startswith("Offer 5002")
    assert read_offer(main, 5001)["id"] == 5001  # the valid item was saved
    assert main.ok("product_offer/read", {"id": 5002}) == []


def test_documentation_error_still_saves(main: Emag) -> None:
    messages = main.error("product_offer/save", [{**NEW, "id": 5003, "category_id": 9}])
    assert "template does not exist" in messages[0]
    assert read_offer(main, 5003)["validation_status"][0]["value"] == 8


def test_light_offer_save_per_item_results(main: Emag) -> None:
    original = read_offer(main, 10)
    response = main.call(
        "offer/save",
        [
            {"id": 10, "stock": [{"warehouse_id": 1, "value": 42}]},
            {"id": 11, "stock": [{"warehouse_id": 1, "value": -1}]},
            {"id": 12, "stock": [{"warehouse_id": 1, "value": 1.5}]},
            {"id": 999999, "status": 1},
            {"id": 13, "sale_price": 10**9},
        ],
    )
    body = response.json()
    assert body["isError"] is False
    results = body["results"]
    assert results["10"] == {"isError": False, "messages": ["Offer 10 updated successfully"]}
    assert results["11"] == {"isError": True, "messages": ["Stock should be 0 or more"]}
    assert "Decimals are not allowed" in results["12"]["messages"][0]
    assert results["999999"]["isError"] is True
    assert results["13"]["isError"] is True
    updated = read_offer(main, 10)
    assert updated["general_stock"] == 42 and updated["stock"] == [{"warehouse_id": 1, "value": 42}]
    assert updated["name"] == original["name"]


def test_offer_stock_patch(main: Emag) -> None:
    http = main.http
    response = http.patch("/offer_stock/20", json={"stock": 21})
    assert response.status_code == 204 and response.content == b""
    assert read_offer(main, 20)["general_stock"] == 21
    bad = http.patch("/offer_stock/20", json={"stock": -3})
    assert bad.status_code == 400
    assert bad.json()["message"] == "Validation errors in your request"
    assert bad.json()["errors"][0]["field"] == "stock"
    listed = http.patch("/offer_stock/20", json={"stock": [{"warehouse_id": 1, "value": 2}]})
    assert listed.status_code == 400
    garbage = http.patch(
        "/offer_stock/20", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400 and garbage.json() == {"message": "Invalid content"}
    missing = http.patch("/offer_stock/777777", json={"stock": 1})
    assert missing.status_code == 404
    assert missing.json() == {"message": "This offer does not exist"}
    assert read_offer(main, 20)["general_stock"] == 21
    assert http.post("/offer_stock/20", json={"stock": 1}).status_code == 404  # PATCH only


def test_measurements_save_validates(main: Emag) -> None:
    main.ok("measurements/save", [{"id": 1, "length": 10.5, "width": 2, "height": 3, "weight": 4}])
    messages = main.error(
        "measurements/save", [{"id": 1, "length": 10.555, "width": 2, "height": 3, "weight": 4}]
    )
    assert "length" in messages[0]
    assert main.error(
        "measurements/save", [{"id": 999999, "length": 1, "width": 1, "height": 1, "weight": 1}]
    )
