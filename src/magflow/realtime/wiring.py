"""Starting and stopping the realtime parts of an API process.

``create_app`` calls :func:`start_realtime` in its lifespan and sets ``app.state.hub``.
:func:`attach_realtime` does the same for an app whose lifespan does not (tests, benches, or an
app built before this wiring existed); it does nothing when the lifespan already set a hub.
"""

from __future__ import annotations

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
