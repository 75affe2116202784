"""Live events: the event bus (in-process or Redis Streams), the publishers' progress throttle and
the WebSocket hub. The routes are in :mod:`magflow.realtime.routes`; ``create_app``'s lifespan
starts a hub on the context's bus (``app.state.hub``) and stops it on shutdown."""

from magflow.realtime.bus import (
    EventBus,
    MemoryEventBus,
    RedisEventBus,
    Replay,
    Subscription,
    build_event_bus,
)
from magflow.realtime.events import Event, is_progress, is_terminal, make_event
from magflow.realtime.hub import Hub, SnapshotProvider
from magflow.realtime.throttle import ProgressThrottle

__all__ = [
    "Event",
    "EventBus",
    "Hub",
    "MemoryEventBus",
    "ProgressThrottle",
    "RedisEventBus",
    "Replay",
    "SnapshotProvider",
    "Subscription",
    "build_event_bus",
    "is_progress",
    "is_terminal",
    "make_event",
]
