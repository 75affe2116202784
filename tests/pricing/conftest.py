"""Pricing tests: a small simulator without rate limits (pacing is not under test here)."""

from __future__ import annotations

import pytest

from magflow.emag_sim import SimConfig
from magflow.settings import Settings
from tests.conftest import Backend
from tests.orders.support import clients, small_sim_config

__all__ = ["clients"]


@pytest.fixture
def settings(settings: Settings, backend: Backend) -> Settings:
    return settings.model_copy(update={"emag_rate_limit": False, "schedules_enabled": False})


@pytest.fixture
def sim_config() -> SimConfig:
    config = small_sim_config(offers=40, orders=60)
    config.rate_limit = False
    return config
