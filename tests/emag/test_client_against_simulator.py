"""EmagClient against the eMAG simulator over real HTTP on loopback (uvicorn in a thread).

Each fault kind of the simulator (429, 5xx, timeout, malformed, isError) is forced with
probability 1 to see the typed error, then at a lower rate to see retries recover; a paced
concurrent run checks that the client earns no 429 with eMAG's limits enforced.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from magflow.emag import (
    EmagAuthError,
    EmagClient,
    EmagRateLimitedError,
    EmagTransientError,
    EmagValidationError,
    InMemoryRateLimiter,
    RetryPolicy,
)
from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer

USERNAME, PASSWORD = "u", "p"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    config = SimConfig(
        seed=1,
        offers=200,
        orders=500,
        accounts=[
            SimAccount(name="main", account_type="main", username=USERNAME, password=PASSWORD)
        ],
        rate_limit=True,
        main_fbe_ratio=0.0,  # type 3 only: order/read's default type reads every order
    )
    with SimulatorServer(config) as server:
        yield server


def control(sim: SimulatorServer, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{sim.root_url}/_sim/{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.fixture
async def client(sim: SimulatorServer) -> AsyncIterator[EmagClient]:
    control(sim, "POST", "reset")
    control(sim, "POST", "faults", {"replace": True})
    async with EmagClient(
        sim.base_url,
        USERNAME,
        PASSWORD,
        platform="ro",
        rate_limiter=InMemoryRateLimiter(),  # a fresh budget per test
        account_key="sim-main",
        timeout=2,
        retry=RetryPolicy(max_attempts=6, base_delay=0.02, max_delay=0.1, max_elapsed=20),
    ) as emag:
        yield emag
    control(sim, "POST", "faults", {"replace": True})


async def read_pages(
    client: EmagClient, resource: str, pages: Any, concurrency: int = 8
) -> list[list[dict[str, Any]]]:
    """Test-only: pages of ``resource`` read at once (the rate limiter paces them), in order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(page: int) -> list[dict[str, Any]]:
        async with semaphore:
            return await client.read_rows(resource, None, page, 100)

    return list(await asyncio.gather(*(one(page) for page in pages)))


async def test_full_read_of_offers_and_orders(client: EmagClient) -> None:
    offers = [o async for page in client.iter_pages("product_offer") for o in page.rows]
    assert len(offers) == 200 and len({o["id"] for o in offers}) == 200
    orders = [o async for page in client.iter_pages("order") for o in page.rows]
    assert len(orders) == (await client.count("order")).no_of_items == 500
    assert all(o["date"] and o["id"] is not None for o in orders)
    assert client.stats.rate_limited == 0 and client.stats.retries == 0


async def test_wrong_password_is_an_auth_error(sim: SimulatorServer) -> None:
    async with EmagClient(
        sim.base_url,
        USERNAME,
        "wrong-password-123",
        platform="ro",
        rate_limiter=InMemoryRateLimiter(),
        account_key="bad",
    ) as bad:
        with pytest.raises(EmagAuthError) as info:
            await bad.count("product_offer")
    assert "wrong-password-123" not in str(info.value) + repr(info.value)
    assert bad.stats.retries == 0


async def test_writes_round_trip(sim: SimulatorServer, client: EmagClient) -> None:
    await client.update_stock(1, 17)
    (offer,) = await client.read_rows("product_offer", {"id": 1})
    assert offer["general_stock"] == 17 or offer["stock"][0]["value"] == 17
    result = await client.save_offers([{"id": 2, "stock": [{"warehouse_id": 1, "value": -1}]}])
    assert "2" in result.items
    with pytest.raises(EmagValidationError):
        await client.update_stock(999_999, 1)
    new = control(sim, "POST", "accounts/main/orders/new", {"count": 1})
    order_id = new["created"][0]
    await client.acknowledge_order(order_id)
    (order,) = await client.read_rows("order", {"id": order_id})
    assert order["status"] == 2


@pytest.mark.parametrize(
    ("fault", "error", "reason"),
    [
        ("429", EmagRateLimitedError, "rate_limited"),
        ("500", EmagTransientError, "server_error"),
        ("502", EmagTransientError, "server_error"),
        ("504", EmagTransientError, "server_error"),
        ("timeout", EmagTransientError, "timeout"),
        ("malformed", EmagTransientError, "malformed"),
        ("is_error", EmagValidationError, None),
    ],
)
async def test_each_fault_kind(
    sim: SimulatorServer, client: EmagClient, fault: str, error: type[Exception], reason: str | None
) -> None:
    settings: dict[str, Any] = {fault: 1.0, "seed": 5}
    if fault == "timeout":
        settings["timeout_seconds"] = 3  # longer than the client's 2 s timeout
    control(sim, "POST", "faults", settings)
    client.retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)
    with pytest.raises(error) as info:
        await client.count("order")
    assert info.value.route == "order/count"  # type: ignore[attr-defined]
    if reason is not None:
        assert client.stats.retries == 1
        if isinstance(info.value, EmagTransientError):
            assert info.value.reason == reason
    else:
        assert client.stats.retries == 0 and info.value.messages  # type: ignore[attr-defined]
    # At a lower rate the retries recover.
    if reason is not None and fault != "timeout":
        control(sim, "POST", "faults", {"replace": True, fault: 0.4, "seed": 11})
        client.retry = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05)
        pages = await read_pages(client, "order", range(1, 6))
        assert sum(len(p) for p in pages) == 500


async def test_paced_concurrent_run_earns_no_429(sim: SimulatorServer, client: EmagClient) -> None:
    """About 3 s of concurrent order and offer reads at full speed: the simulator, counting in
    fixed wall-clock windows like Kong, must not refuse a single request."""
    control(sim, "DELETE", "stats")
    await asyncio.gather(
        read_pages(client, "order", [1 + i % 5 for i in range(36)], concurrency=24),
        read_pages(client, "product_offer", [1 + i % 2 for i in range(9)], concurrency=6),
    )
    stats = control(sim, "GET", "stats")
    assert stats["rate_limited"] == 0, stats
    assert client.stats.rate_limited == 0 and client.stats.api_calls == 45
