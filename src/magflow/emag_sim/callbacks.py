"""eMAG's callbacks, as the simulator fires them (docs/emag-protocol.md, "Callbacks").

The seller configures one URL per callback kind in eMAG's UI; here, per account, through the
config (:attr:`SimAccount.callbacks`) or the control API (``POST /_sim/accounts/{name}/callbacks``
with ``{"order": URL, "cancellation": URL, "return": URL, "awb": URL, "documentation": URL}``).
eMAG calls them with
GET:

- ``order``: a new order, ``?order_id=N``, **repeated until the order is acknowledged** (every
  ``SimConfig.callback_repeat_seconds``, first at once). A seller-fulfilled order leaves status 1
  only by an acknowledgement (or a cancellation, which also ends the repeats). An order fulfilled
  by eMAG (type 2) cannot be acknowledged: it is announced once;
- ``cancellation``: an order went to status 0, ``?order_id=N``;
- ``return``: an order was returned (status 5: its RMA appears), or a return's
  ``request_status`` changed (``POST /_sim/accounts/{name}/returns/{rma_id}/status``),
  ``?order_id=N&rma_id=R``;
- ``awb``: an AWB was issued for an order, ``?order_id=N&awb_id=E``;
- ``documentation``: an offer's documentation was approved (``POST
  /_sim/accounts/{name}/offers/{id}/approve-documentation``: validation status 9),
  ``?product_id=N`` (the seller's offer id).

A call that fails (no answer, a timeout, any status but 200) changes nothing: a new-order callback
is repeated anyway; the others are not (eMAG's retry policy for them is not documented: the
simulator assumes none, the less friendly reading). The query parameters of the kinds other than
``order`` are not documented either (docs/emag-protocol.md, "Uncertainties").
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from magflow.emag_sim.state import AccountState, SimState

log = logging.getLogger(__name__)

#: Kinds a seller can configure; all are fired.
KINDS = ("order", "cancellation", "return", "awb", "documentation")
TICK_SECONDS = 0.05
MAX_IN_FLIGHT = 64
TIMEOUT_SECONDS = 10.0


class CallbackDispatcher:
    def __init__(self, repeat_seconds: float) -> None:
        self.repeat_seconds = repeat_seconds
        self.urls: dict[str, dict[str, str]] = {}
        self.enabled = True
        # (due time, sequence, account name, kind, query) of calls to make; new-order calls are
        # put back after each attempt while the order is new.
        self._due: list[tuple[float, int, str, str, dict[str, Any]]] = []
        self._seq = 0
        self._state: SimState | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._inflight: set[asyncio.Task[None]] = set()
        self._announced: set[tuple[str, int]] = set()
        self.sent: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()

    def attach(self, state: SimState) -> None:
        """Listen to ``state``'s events (a reset builds a new state; pending calls are dropped)."""
        self._state = state
        self._due.clear()
        self._announced.clear()
        state.listener = self.on_event

    def configure(self, account: str, urls: dict[str, str]) -> None:
        unknown = set(urls) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown callback kinds {sorted(unknown)}; known: {list(KINDS)}")
        for kind, url in urls.items():
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError(f"callback {kind}: {url!r} is not an http(s) URL")
        self.urls[account] = dict(urls)

    def snapshot(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "repeat_seconds": self.repeat_seconds,
            "urls": {name: sorted(urls) for name, urls in self.urls.items()},
            "pending": len(self._due),
            "sent": dict(self.sent),
            "answers": dict(self.answers),
        }

    # --- events -----------------------------------------------------------------------------

    def on_event(self, event: str, acc: AccountState, info: dict[str, Any]) -> None:
        if event == "order_new":
            self._schedule(acc.name, "order", {"order_id": info["id"]}, time.monotonic())
        elif event == "status" and info["to"] == 0 and info["from"] != 0:
            self._schedule(acc.name, "cancellation", {"order_id": info["id"]}, time.monotonic())
        elif event == "status" and info["to"] == 5:
            rma_id = acc.rma_base + (info["id"] - acc.order_base)
            query = {"order_id": info["id"], "rma_id": rma_id}
            self._schedule(acc.name, "return", query, time.monotonic())
        elif event == "rma_status":
            # a return's status changed: the same call as a new return
            query = {"order_id": info["id"], "rma_id": info["rma_id"]}
            self._schedule(acc.name, "return", query, time.monotonic())
        elif event == "documentation":
            self._schedule(acc.name, "documentation", {"product_id": info["id"]}, time.monotonic())
        elif event == "awb":
            query = {"order_id": info["id"], "awb_id": info["awb"]}
            self._schedule(acc.name, "awb", query, time.monotonic())

    def _schedule(self, account: str, kind: str, query: dict[str, Any], due: float) -> None:
        if kind not in self.urls.get(account, {}):
            return
        self._seq += 1
        heapq.heappush(self._due, (due, self._seq, account, kind, query))
        self._ensure_running()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop yet (state built outside the server): started on the next event
            self._task = loop.create_task(self._loop(), name="sim-callbacks")

    # --- firing -----------------------------------------------------------------------------

    def _still_new(self, account: str, order_id: int) -> bool:
        acc = self._state.account(account) if self._state is not None else None
        idx = acc.order_index(order_id) if acc is not None else None
        if acc is None or idx is None:
            return False
        return int(acc.status[idx]) == 1 and int(acc.otype[idx]) == 3

    async def _loop(self) -> None:
        # One connection per call, as from a fleet of eMAG servers (no keep-alive to rely on).
        self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS, headers={"Connection": "close"})
        try:
            while True:
                now = time.monotonic()
                while self._due and self._due[0][0] <= now:
                    _due, _seq, account, kind, query = heapq.heappop(self._due)
                    if not self.enabled:
                        continue
                    key = (account, int(query.get("order_id", 0)))
                    # a repeat: only while the order is still new (not acknowledged)
                    if kind == "order" and key in self._announced and not self._still_new(*key):
                        self._announced.discard(key)
                        continue
                    await self._slots.acquire()
                    task = asyncio.create_task(self._fire(account, kind, query))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                await asyncio.sleep(TICK_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                await self._client.aclose()

    async def _fire(self, account: str, kind: str, query: dict[str, Any]) -> None:
        try:
            url = self.urls.get(account, {}).get(kind)
            if url is None or self._client is None:
                return
            self.sent[kind] += 1
            try:
                response = await self._client.get(url, params=query)
                self.answers[str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                self.answers[type(exc).__name__] += 1
            if kind == "order":
                key = (account, int(query["order_id"]))
                if self._still_new(*key):
                    self._announced.add(key)
                    self._schedule(account, kind, query, time.monotonic() + self.repeat_seconds)
                else:
                    self._announced.discard(key)
        finally:
            self._slots.release()
