"""A simulator on loopback shared by the module's tests; each test starts from a reset state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from magflow.emag_sim import SimAccount, SimConfig, SimulatorServer

ANCHOR = datetime(2025, 6, 15, 12, 0, 0, tzinfo=UTC)


def small_config(**overrides: Any) -> SimConfig:
    values: dict[str, Any] = {
        "seed": 7,
        "offers": 300,
        "orders": 600,
        "platform": "ro",
        "accounts": [
            SimAccount(name="main", account_type="main", username="u-main", password="p-main"),
            SimAccount(name="fbe", account_type="fbe", username="u-fbe", password="p-fbe"),
        ],
        "rate_limit": False,
    }
    values.update(overrides)
    return SimConfig(**values)


class Emag:
    """A tiny eMAG caller over real HTTP (JSON bodies unless told otherwise)."""

    def __init__(self, sim: SimulatorServer, username: str, password: str) -> None:
        self.sim = sim
        self.http = httpx.Client(base_url=sim.base_url, auth=(username, password), timeout=10)

    def call(self, route: str, payload: Any = None, **kwargs: Any) -> httpx.Response:
        if payload is not None:
            kwargs["json"] = payload
        return self.http.post(f"/{route}", **kwargs)

    def ok(self, route: str, payload: Any = None, **kwargs: Any) -> Any:
        response = self.call(route, payload, **kwargs)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["isError"] is False, body
        return body["results"]

    def error(self, route: str, payload: Any = None, **kwargs: Any) -> list[str]:
        response = self.call(route, payload, **kwargs)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["isError"] is True, body
        messages: list[str] = body["messages"]
        return messages

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(small_config(anchor=None)) as sim:
        yield sim


@pytest.fixture
def sim(server: SimulatorServer) -> SimulatorServer:
    response = httpx.post(f"{server.root_url}/_sim/reset", timeout=10)
    assert response.status_code == 200
    return server


@pytest.fixture
def main(sim: SimulatorServer) -> Iterator[Emag]:
    client = Emag(sim, "u-main", "p-main")
    yield client
    client.close()


@pytest.fixture
def fbe(sim: SimulatorServer) -> Iterator[Emag]:
    client = Emag(sim, "u-fbe", "p-fbe")
    yield client
    client.close()


@pytest.fixture
def control(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sim.root_url}/_sim", timeout=10) as client:
        yield client
