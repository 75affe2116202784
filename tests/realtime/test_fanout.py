"""An event reaches many clients a batch per turn of the event loop, in order (``Hub.dispatch``)."""

from __future__ import annotations

import asyncio
from typing import Any

from magflow.realtime.bus import MemoryEventBus
from magflow.realtime.events import Event, make_event
from magflow.realtime.hub import (
    FANOUT_BATCH,
    SYNC_EVENTS,
    SYNC_PROGRESS,
    Client,
    ClientQueue,
    Hub,
)

_ids = iter(range(1, 1_000_000))


def event(type: str) -> Event:
    return {**make_event(type, run_id=1, data={}), "id": f"{next(_ids):06d}"}


def received(client: Client) -> list[str]:
    out = []
    while (item := client.queue.get_nowait()) is not None:
        out.append(item.event["type"])
    return out


async def test_an_event_reaches_a_batch_of_clients_per_loop_turn_in_order() -> None:
    hub = Hub(MemoryEventBus())
    clients = [
        Client(websocket=Any, route=SYNC_PROGRESS, principal=Any, queue=ClientQueue())  # type: ignore[arg-type]
        for _ in range(FANOUT_BATCH * 2 + 7)
    ]
    clients.append(Client(websocket=Any, route=SYNC_EVENTS, principal=Any, queue=ClientQueue()))  # type: ignore[arg-type]
    hub._clients.update(clients)
    hub.dispatch(event("sync.progress"))
    hub.dispatch(event("account.updated"))  # only the sync-events client wants this one
    # At once: one batch of the first event; the rest waits for the loop.
    assert sum(len(c.queue) for c in clients) == FANOUT_BATCH
    await asyncio.sleep(0)
    assert sum(len(c.queue) for c in clients) == 2 * FANOUT_BATCH
    for _ in range(5):
        await asyncio.sleep(0)
    assert not hub._fanout
    for client in clients:
        if client.route is SYNC_EVENTS:
            assert received(client) == ["sync.progress", "account.updated"]
        else:
            assert received(client) == ["sync.progress"]
    # With nothing pending, a small fan-out is done at once.
    hub._clients.clear()
    hub._clients.update(clients[:3])
    hub.dispatch(event("sync.finished"))
    assert [received(c) for c in clients[:3]] == [["sync.finished"]] * 3
