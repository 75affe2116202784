"""Intake tests: the app under uvicorn with ``MAGFLOW_PUBLIC_URL`` pointing at itself, so that the
simulator calls the callback URLs the app shows, and a small simulator whose new-order callbacks
repeat quickly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from magflow.emag_sim import SimAccount, SimConfig
from magflow.settings import Settings
from tests.orders.support import clients
from tests.support.servers import UvicornThread, free_port

__all__ = ["clients"]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, backend: object, port: int) -> Settings:
    # ``backend`` named here too, so that pytest parametrizes this override per backend.
    return settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})


@pytest.fixture
def api(settings: Settings, port: int) -> Iterator[str]:
    from magflow.app import create_app

    with UvicornThread(create_app(settings), port=port) as server:
        yield server.url


@pytest.fixture
def sim_config() -> SimConfig:
    tag = uuid.uuid4().hex[:8]
    return SimConfig(
        seed=29,
        offers=20,
        orders=30,
        history_days=10,
        callback_repeat_seconds=0.3,
        accounts=[
            SimAccount(name="main", account_type="main", username=f"main-{tag}", password="pw-m"),
            SimAccount(name="fbe", account_type="fbe", username=f"fbe-{tag}", password="pw-f"),
        ],
    )
