"""FastAPI's OpenTelemetry bridge runs only when ``MAGFLOW_OPENTELEMETRY`` asks for it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from opentelemetry import trace

from magflow.app import create_app
from magflow.settings import Settings
from tests.support.servers import UvicornThread


class CountingTracerProvider(trace.TracerProvider):
    """A configured provider (FastAPI's bridge traces through it, as through an SDK's) that
    counts the tracers asked of it; its tracer records nothing."""

    def __init__(self) -> None:
        self.tracers = 0

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        self.tracers += 1
        return trace.NoOpTracer()


@pytest.mark.parametrize("enabled", [False, True])
def test_the_bridge_runs_only_when_asked(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    provider = CountingTracerProvider()
    # The global provider, as an operator's OpenTelemetry set-up installs it (restored after).
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    app = create_app(settings.model_copy(update={"opentelemetry": enabled}))
    with UvicornThread(app) as server:
        assert httpx.get(server.url + "/health").status_code == 200
    assert (provider.tracers > 0) is enabled
