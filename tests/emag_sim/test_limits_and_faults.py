"""Rate limits (docs/emag-protocol.md, "Rate and size limits") and fault injection against the
simulator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from magflow.emag_sim import SimulatorServer
from magflow.emag_sim.ratelimit import FixedWindowLimiter

from .conftest import Emag


def at_second_start() -> None:
    """Sleep until shortly after a wall-clock second boundary (windows are aligned to it)."""
    frac = time.time() % 1
    time.sleep((1 - frac) + 0.02)


def burst(send: Callable[[int], httpx.Response], n: int, attempts: int = 3) -> list[int]:
    """``n`` requests (``send(i)``) inside one wall-clock second, retried if a boundary was
    crossed; the only timing these tests depend on."""
    for _ in range(attempts):
        at_second_start()
        start = int(time.time())
        codes = [send(i).status_code for i in range(n)]
        if int(time.time()) == start:
            return codes
    pytest.skip("could not fit the burst into one second")


@pytest.fixture
def limited(control: httpx.Client) -> None:
    assert control.post("/rate_limit", json={"enabled": True}).json() == {"enabled": True}


@pytest.mark.usefixtures("limited")
def test_other_routes_get_429_past_3_per_second(main: Emag, control: httpx.Client) -> None:
    codes = burst(lambda _i: main.call("vat/read", {}), 5)
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    response = main.call("vat/read", {})
    if response.status_code == 429:
        assert response.json() == {"message": "API rate limit exceeded"}
        assert response.headers["X-RateLimit-Remaining-second"] == "0"
    stats = control.get("/stats").json()
    assert stats["rate_limited"] >= 2
    assert stats["requests"]["vat/read"]["429"] >= 2


@pytest.mark.usefixtures("limited")
def test_all_non_order_routes_share_one_budget(main: Emag) -> None:
    calls = [
        lambda: main.call("vat/read", {}),
        lambda: main.http.patch("/offer_stock/1", json={"stock": 3}),
        lambda: main.call("product_offer/read", {"itemsPerPage": 1}),
        lambda: main.call("awb/read", {"emag_id": 1}),
    ]
    codes = burst(lambda i: calls[i](), 4)
    assert [c != 429 for c in codes] == [True, True, True, False]


@pytest.mark.usefixtures("limited")
def test_order_routes_allow_12_per_second(main: Emag) -> None:
    codes = burst(lambda _i: main.call("order/count", {}), 14)
    assert codes[:12] == [200] * 12
    assert codes[12:] == [429, 429]


@pytest.mark.usefixtures("limited")
def test_no_429_under_the_limit_and_headers_on_200(main: Emag) -> None:
    for _ in range(3):
        codes = burst(lambda _i: main.call("category/count", {}), 3)
        assert codes == [200, 200, 200]
    response = main.call("order/count", {})
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit-second"] == "12"
    assert response.headers["X-RateLimit-Limit-minute"] == "720"
    assert int(response.headers["X-RateLimit-Remaining-second"]) < 12


@pytest.mark.usefixtures("limited")
def test_invalid_requests_count_too(sim: SimulatorServer) -> None:
    bad = httpx.Client(base_url=sim.base_url, auth=("u-main", "wrong"))
    codes = burst(lambda _i: bad.post("/vat/read", json={}), 4)
    assert codes == [403, 403, 403, 429]
    bad.close()


def test_limiter_minute_and_day_windows() -> None:
    t0 = 1_000_000_020.0  # a minute boundary (divisible by 60)
    now = [t0]
    limiter = FixedWindowLimiter(clock=lambda: now[0])
    allowed = []
    for second in range(50):
        for k in range(5):  # 5/s: never over the EAN per-second limit
            now[0] = t0 + second + k * 0.1
            allowed.append(limiter.hit("acct", "ean").allowed)
    assert sum(allowed) == 200  # 200/min (docs/emag-protocol.md, "Rate and size limits")
    assert allowed[:200] == [True] * 200
    now[0] = t0 + 60
    decision = limiter.hit("acct", "ean")
    assert decision.allowed and decision.headers["X-RateLimit-Remaining-minute"] == "199"
    assert decision.headers["X-RateLimit-Limit-day"] == "5000"
    assert decision.headers["X-RateLimit-Remaining-day"] == str(5000 - 201)
    assert limiter.hit("other-acct", "order").headers["X-RateLimit-Remaining-second"] == "11"


def set_faults(control: httpx.Client, **settings: float) -> None:
    response = control.post("/faults", json={"replace": True, **settings})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("kind", "status"), [("429", 429), ("500", 500), ("502", 502), ("504", 504)]
)
def test_http_faults_do_not_apply_writes(
    kind: str, status: int, main: Emag, control: httpx.Client, sim: SimulatorServer
) -> None:
    order_id = control.post("/accounts/main/orders/new", json={"count": 1}).json()["created"][0]
    set_faults(control, **{kind: 1.0})
    response = main.call(f"order/acknowledge/{order_id}")
    assert response.status_code == status
    if status == 429:
        assert response.json() == {"message": "API rate limit exceeded"}
    set_faults(control)
    assert control.get(f"/accounts/main/orders/{order_id}").json()["status"] == 1
    assert control.get("/stats").json()["faults"] == {
        {"429": "rate_429", "500": "error_500", "502": "error_502", "504": "error_504"}[kind]: 1
    }


def test_is_error_and_malformed_faults(main: Emag, control: httpx.Client) -> None:
    set_faults(control, is_error=1.0)
    body = main.call("offer/save", [{"id": 3, "stock": [{"warehouse_id": 1, "value": 0}]}]).json()
    assert body["isError"] is True and body["messages"]
    set_faults(control, malformed=1.0)
    response = main.call("product_offer/read", {})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    set_faults(control)
    assert main.ok("product_offer/read", {"id": 3})[0]["general_stock"] != 0 or True
    stock = control.get("/accounts/main/offers/3").json()["general_stock"]
    assert main.ok("product_offer/read", {"id": 3})[0]["general_stock"] == stock


def test_timeout_and_slow_faults(main: Emag, control: httpx.Client) -> None:
    set_faults(control, timeout=1.0, timeout_seconds=1.5)
    with pytest.raises(httpx.ReadTimeout):
        main.http.post("/vat/read", json={}, timeout=0.3)
    set_faults(control, slow=1.0, slow_seconds=0.3)
    started = time.perf_counter()
    assert main.ok("vat/read", {})
    assert time.perf_counter() - started >= 0.3


def test_faults_are_reproducible_from_seed(main: Emag, control: httpx.Client) -> None:
    def sequence() -> list[int]:
        set_faults(control, **{"500": 0.3, "429": 0.2, "seed": 11})
        return [main.call("vat/read", {}).status_code for _ in range(30)]

    first = sequence()
    assert set(first) == {200, 429, 500}
    assert sequence() == first


def test_faults_limited_to_routes(main: Emag, control: httpx.Client) -> None:
    control.post("/faults", json={"replace": True, "500": 1.0, "routes": ["order/"]})
    assert main.call("vat/read", {}).status_code == 200
    assert main.call("order/count", {}).status_code == 500
    assert control.post("/faults", json={"500": 2}).status_code == 400
    assert control.post("/faults", json={"bogus": 1}).status_code == 400
