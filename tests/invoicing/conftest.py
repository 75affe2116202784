from __future__ import annotations

from collections.abc import Iterator

import pytest

from magflow.emag_sim import SimConfig
from magflow.invoicing.sims import ProviderSim, oblio_app, smartbill_app
from tests.orders.support import clients, small_sim_config
from tests.support.servers import UvicornThread

__all__ = ["clients"]


@pytest.fixture
def sim_config() -> SimConfig:
    return small_sim_config(offers=10, orders=24)


@pytest.fixture
def smartbill() -> Iterator[tuple[ProviderSim, str]]:
    """The SmartBill simulator on loopback: its state and its URL."""
    state = ProviderSim()
    with UvicornThread(smartbill_app(state)) as server:
        yield state, server.url


@pytest.fixture
def oblio() -> Iterator[tuple[ProviderSim, str]]:
    """The Oblio simulator on loopback: its state and its URL."""
    state = ProviderSim()
    with UvicornThread(oblio_app(state)) as server:
        yield state, server.url
