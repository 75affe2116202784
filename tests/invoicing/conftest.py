from __future__ import annotations

import pytest

from magflow.emag_sim import SimConfig
from tests.orders.support import clients, small_sim_config

__all__ = ["clients"]


@pytest.fixture
def sim_config() -> SimConfig:
    return small_sim_config(offers=10, orders=24)
