from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from magflow.context import AppContext
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.sync.models import SyncKind
from tests.orders.support import clients, small_sim_config
from tests.support.simulation import Accounts, sync

__all__ = ["OfferWrites", "clients", "offer_writes", "synced_offers", "wait_done"]


@pytest.fixture
def sim_config() -> SimConfig:
    return small_sim_config(offers=1010, orders=5)


@pytest.fixture
async def synced_offers(ctx: AppContext, accounts: Accounts) -> Accounts:
    run = await sync(ctx, accounts.main, SyncKind.offers)
    assert run.status == "completed", run.errors
    return accounts


async def wait_done(client: httpx.AsyncClient, op_id: int, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op: dict[str, Any] = (await client.get(f"/api/v1/emag/bulk/operations/{op_id}")).json()
        if op["status"] not in ("queued", "running"):
            return op
        await asyncio.sleep(0.1)
    raise AssertionError(f"bulk operation {op_id} did not finish")


class OfferWrites:
    """Every offer change the simulator applies, counted per (account, offer id).

    The simulator runs in a thread of the test process, so its own state is at hand: each
    account's ``put_offer`` (called once per item that ``offer/save`` accepts) is wrapped to count
    and then do what it does. ``hold_after(n)`` makes the simulator stop answering right after the
    n-th write, until ``release()``: the change has landed on eMAG but the caller has no answer.
    """

    def __init__(self, sim: SimulatorServer) -> None:
        self.counts: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()
        self._total = 0
        self._hold_at: int | None = None
        self.reached = threading.Event()
        self._released = threading.Event()
        for account in sim.accounts:
            state = sim.state.account(account.name)
            assert state is not None
            state.put_offer = self._counting(account.name, state.put_offer)  # type: ignore[method-assign]

    def _counting(
        self, name: str, put_offer: Callable[[dict[str, Any]], None]
    ) -> Callable[[dict[str, Any]], None]:
        def counted(offer: dict[str, Any]) -> None:
            put_offer(offer)
            with self._lock:
                self.counts[name, int(offer["id"])] += 1
                self._total += 1
                hold = self._total == self._hold_at
            if hold:
                self.reached.set()
                self._released.wait(timeout=300)  # the simulator answers nobody meanwhile

        return counted

    def hold_after(self, writes: int) -> None:
        self._hold_at = writes

    def release(self) -> None:
        self._released.set()

    async def wait_held(self) -> None:
        assert await asyncio.to_thread(self.reached.wait, 120), "the simulator was never held"

    def of(self, account: str) -> dict[int, int]:
        return {offer: n for (name, offer), n in self.counts.items() if name == account}


@pytest.fixture
def offer_writes(sim: SimulatorServer) -> Iterator[OfferWrites]:
    writes = OfferWrites(sim)
    yield writes
    writes.release()
