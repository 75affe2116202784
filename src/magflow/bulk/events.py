"""Progress events of bulk operations (``bulk.started``, ``bulk.progress`` after every chunk,
then ``bulk.completed`` or ``bulk.failed``), published by :class:`.runner.BulkRunner` through a
:data:`BulkPublisher`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from magflow.bulk.models import BulkOperation
from magflow.bulk.service import operation_view
from magflow.context import AppContext
from magflow.realtime.events import is_terminal, make_event

BulkPublisher = Callable[[str, dict[str, Any]], Awaitable[None]]


async def no_publish(event_type: str, data: dict[str, Any]) -> None:
    """The default publisher: nothing."""


def event_view(op: BulkOperation) -> dict[str, Any]:
    view = operation_view(op)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in view.items()}


def bus_publisher(ctx: AppContext) -> BulkPublisher:
    """Bulk operations publish on the event bus like syncs (from the API process or a worker);
    their end invalidates cached views."""

    async def publish(event_type: str, data: dict[str, Any]) -> None:
        await ctx.bus.publish(make_event(event_type, account_id=data.get("account_id"), data=data))
        if is_terminal(event_type):
            await ctx.cache.clear()

    return publish
