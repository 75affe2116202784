"""Starting and stopping the realtime parts of an API process.

``create_app`` calls :func:`start_realtime` in its lifespan and sets ``app.state.hub``.
:func:`attach_realtime` does the same for an app whose lifespan does not (tests, benches, or an
app built before this wiring existed); it does nothing when the lifespan already set a hub.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis

from magflow.realtime.bus import EventBus, build_event_bus
from magflow.realtime.hub import Hub
from magflow.settings import Settings


@dataclass
class Realtime:
    bus: EventBus
    hub: Hub

    async def aclose(self) -> None:
        await self.hub.stop()
        await self.bus.aclose()


async def start_realtime(
    settings: Settings, redis: Redis | None = None, **hub_options: Any
) -> Realtime:
    """The bus (Redis when configured, sharing ``redis``) and a started hub listening to it."""
    bus = build_event_bus(settings, redis)
    hub = Hub(bus, **hub_options)
    await hub.start()
    return Realtime(bus, hub)


def attach_realtime(app: FastAPI, settings: Settings, **hub_options: Any) -> None:
    """Make sure ``app`` serves the WebSocket routes and has a hub once started."""
    from magflow.realtime.routes import router

    paths = {getattr(route, "path", None) for route in app.router.routes}
    if not all(getattr(r, "path", None) in paths for r in router.routes):
        app.include_router(router)

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        cm: AbstractAsyncContextManager[Any] = inner(app_)
        async with cm as state:
            if getattr(app_.state, "hub", None) is not None:
                yield state
                return
            ctx = getattr(app_.state, "ctx", None)
            realtime = await start_realtime(settings, getattr(ctx, "redis", None), **hub_options)
            app_.state.hub = realtime.hub
            app_.state.event_bus = realtime.bus
            try:
                yield state
            finally:
                await realtime.aclose()
                app_.state.hub = None

    app.router.lifespan_context = lifespan


def tune_gc() -> None:
    """Keep CPython's full garbage collections from stalling live events.

    With a thousand WebSocket clients an API process holds enough objects that a generation-2
    collection pauses the event loop for 130-250 ms, every few seconds under load: that, not the
    fan-out itself (~40 ms for 1,000 sockets), set the p99 in ``bench/ws_fanout.py``. Freezing
    what start-up built (it lives as long as the process anyway) and collecting less often keeps
    the p99 under 100 ms there. Call once, at the end of the lifespan's start-up; it affects the
    whole process, which is why the app decides, not the hub.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
