"""Protocol rules of docs/emag-protocol.md, "Requests and authentication", "Answers and errors",
"Rate and size limits", "Paging, counts and filters" against the simulator over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from magflow.emag_sim import SimulatorServer

from .conftest import Emag

FORBIDDEN = {"isError": True, "messages": ["You are not allowed to use this API."], "results": []}


def test_bad_credentials_get_403(sim: SimulatorServer) -> None:
    url = f"{sim.base_url}/order/read"
    for auth in (("u-main", "wrong"), ("nobody", "p-main"), None):
        response = httpx.post(url, json={}, auth=auth)
        assert response.status_code == 403
        assert response.json() == FORBIDDEN
    broken = httpx.post(url, json={}, headers={"Authorization": "Basic !!!"})
    assert broken.status_code == 403


def test_envelope_is_json_with_errors_key(main: Emag) -> None:
    response = main.call("vat/read", {})
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"isError", "messages", "results", "errors"}
    assert body["isError"] is False and body["messages"] == [] and body["errors"] == []
    rates = {row["vat_id"]: row["vat_rate"] for row in body["results"]}
    assert rates[1] == 0.21  # docs/emag-protocol.md, "Offers": a fraction


def test_unknown_url_is_404_invalid_url(main: Emag) -> None:
    response = main.call("nothing/here", {})
    assert response.status_code == 404
    assert response.json() == {"message": "Invalid URL"}


def test_count_shape_matches_read(main: Emag) -> None:
    count = main.ok("order/count", {})
    assert set(count) == {"noOfItems", "noOfPages", "itemsPerPage"}
    # numbers may come as strings (docs/emag-protocol.md, "Paging, counts and filters")
    total = int(count["noOfItems"])
    assert int(count["itemsPerPage"]) == 100
    assert int(count["noOfPages"]) == -(-total // 100)
    seen: list[int] = []
    for page in range(1, int(count["noOfPages"]) + 2):
        rows = main.ok("order/read", {"currentPage": page, "itemsPerPage": 100})
        seen.extend(row["id"] for row in rows)
    assert len(seen) == total == len(set(seen))
    assert seen == sorted(seen)


def test_items_per_page_is_capped_at_100(main: Emag) -> None:
    rows = main.ok("product_offer/read", {"itemsPerPage": 500})
    assert len(rows) == 100
    count = main.ok("product_offer/count", {"itemsPerPage": 500})
    assert int(count["itemsPerPage"]) == 100
    assert int(count["noOfPages"]) == 3  # 300 offers


def test_saves_are_limited_to_50_entities(main: Emag) -> None:
    items = [{"id": i, "stock": [{"warehouse_id": 1, "value": 3}]} for i in range(1, 52)]
    messages = main.error("offer/save", items)
    assert "50" in messages[0]
    results = main.ok("offer/save", items[:50])
    assert len(results) == 50


def test_more_than_4000_input_vars_is_an_error(main: Emag) -> None:
    big = [{"id": 1, "characteristics": [{"id": k, "value": "x"} for k in range(2001)]}]
    assert main.error("product_offer/save", big) == ["Maximum input vars of 4000 exceeded"]
    form = "&".join(f"data[ids][{k}]={k}" for k in range(4001))
    response = main.call(
        "order/read",
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["messages"] == ["Maximum input vars of 4000 exceeded"]


def test_body_forms_all_read_the_same(main: Emag, sim: SimulatorServer) -> None:
    """docs/emag-protocol.md, "Requests and authentication": data-wrapped JSON, top-level JSON,
    form-encoded (both), raw arrays for saves."""
    acc = sim.state.account("main")
    assert acc is not None
    expected = sorted(acc.order_base + i for i in range(acc.n_orders) if acc.status[i] == 4)[:5]
    forms: list[dict[str, Any]] = [
        {"json": {"data": {"status": 4, "itemsPerPage": 5}}},
        {"json": {"status": 4, "itemsPerPage": 5}},
        {"json": {"data": {"status": [4]}, "itemsPerPage": 5}},
        {"data": {"status": "4", "itemsPerPage": "5"}},
        {
            "content": "data[status][]=4&data[itemsPerPage]=5",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
    ]
    for form in forms:
        rows = main.ok("order/read", **form)
        assert [row["id"] for row in rows] == expected, form
    # raw JSON array and data-wrapped array for saves
    main.ok("measurements/save", [{"id": 1, "length": 10, "width": 20, "height": 5, "weight": 300}])
    main.ok(
        "measurements/save",
        {"data": [{"id": 2, "length": 1, "width": 1, "height": 1, "weight": 1}]},
    )
    assert sorted(acc.measurements) == [1, 2]


def test_invalid_json_is_an_error(main: Emag) -> None:
    messages = main.error(
        "order/read", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert "Invalid" in messages[0]


def test_unknown_filter_keys_are_ignored(main: Emag) -> None:
    plain = main.ok("order/count", {})
    assert main.ok("order/count", {"colour": "blue", "createdSince": "yesterday"}) == plain


def test_find_by_eans_get_with_limit(main: Emag, sim: SimulatorServer) -> None:
    from magflow.emag_sim import data

    ours = data.product_ean(7, 5)
    response = main.http.get(
        "/documentation/find_by_eans", params={"eans[]": [ours, "5201314114628"]}
    )
    body = response.json()
    assert body["isError"] is False
    product = body["results"][ours]["products"][0]
    assert product["vendor_has_offer"] is True
    assert product["part_number_key"] == data.product_pnk(7, 5)
    assert "allowed_to_add_offer" in product
    assert body["results"]["5201314114628"] == {"products": []}
    many = [data.product_ean(7, i) for i in range(120)]
    body = main.http.get("/documentation/find_by_eans", params={"eans[]": many}).json()
    assert len(body["results"]) == 100 and body["messages"]


def test_reference_reads(main: Emag) -> None:
    categories = main.ok("category/read", {})
    assert {"id", "name", "is_allowed", "parent_id"} <= set(categories[0])
    one = main.ok("category/read", {"id": categories[0]["id"]})[0]
    assert one["characteristics"] and one["family_types"]
    assert int(main.ok("category/count", {})["noOfItems"]) == 60
    assert {row["value"] for row in main.ok("handling_time/read", {})} >= {0, 1, 2}
    couriers = main.ok("courier_accounts/read", {})
    assert {"account_id", "courier_name", "courier_account_type"} <= set(couriers[0])
    localities = main.ok("locality/read", {"itemsPerPage": 10})
    assert len(localities) == 10 and {row["country_code"] for row in localities} == {"RO"}
    bg = main.ok("locality/read", {"country_code": "BG", "itemsPerPage": 5})
    assert {row["country_code"] for row in bg} == {"BG"}
    assert int(main.ok("locality/count", {"name": "Cluj"})["noOfItems"]) >= 1


def test_rma_read_and_count(main: Emag, sim: SimulatorServer) -> None:
    acc = sim.state.account("main")
    assert acc is not None
    returned = [i for i in range(acc.n_orders) if acc.status[i] == 5]
    count = main.ok("rma/count", {})
    assert int(count["noOfItems"]) == len(returned)
    rows = main.ok("rma/read", {"itemsPerPage": 100})
    assert {row["order_id"] for row in rows} == {acc.order_base + i for i in returned[:100]}
    if rows:
        assert rows[0]["products"] and "request_status" in rows[0]
        one = main.ok("rma/read", {"order_id": rows[0]["order_id"]})
        assert [r["emag_id"] for r in one] == [rows[0]["emag_id"]]


def test_param_routes_need_their_id(main: Emag) -> None:
    assert main.call("order/acknowledge").status_code == 404
    assert main.http.patch("/offer_stock", json={"stock": 1}).status_code == 404


def test_odd_payloads_never_crash(main: Emag, control: httpx.Client) -> None:
    payloads: list[object] = [
        {},
        [],
        {"id": "abc"},
        [{"id": None}],
        {"data": "x"},
        [1, 2],
        {"status": [1, "x"]},
        {"createdAfter": 5, "type": "2"},
        {"itemsPerPage": "lots", "currentPage": -3},
        [{"id": 1, "status": "1", "sale_price": "abc", "stock": [{"value": "x"}]}],
        [{"id": 300000000, "status": 2, "products": "no", "customer": {}, "type": 3}],
        {"order_id": 300000000, "sender": "me", "receiver": [], "cod": "x"},
        {"eans": {"a": 1}},
    ]
    assert main.sim.simulator is not None
    routes = list(main.sim.simulator.api.routes())
    for route in routes:
        for payload in payloads:
            if route == "offer_stock":
                response = main.http.patch("/offer_stock/1", json=payload)
            else:
                path = route.replace("order/acknowledge", "order/acknowledge/300000000").replace(
                    "order/unlock-courier", "order/300000000/unlock-courier"
                )
                response = main.call(path, payload)
            assert response.status_code in (200, 204, 400, 404), (route, payload, response.text)
    requests = control.get("/stats").json()["requests"]
    assert not [route for route, codes in requests.items() if "500" in codes]
