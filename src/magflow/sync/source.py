"""The eMAG client of one account, seen as the engine's :class:`~magflow.sync.engine.EmagSource`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Any

from magflow.accounts.service import AccountCredentials
from magflow.context import AppContext
from magflow.emag.client import EmagClient
from magflow.emag.errors import EmagTransientError


class ClientSource:
    def __init__(self, client: EmagClient) -> None:
        self.client = client

    async def count(self, resource: str, filters: dict[str, Any]) -> tuple[int, int]:
        result = await self.client.count(resource, filters)
        items = result.no_of_items or 0
        return items, result.pages(100) or 0

    async def read_page(
        self, resource: str, filters: dict[str, Any], page: int, per_page: int
    ) -> list[dict[str, Any]]:
        """The page's rows as eMAG sent them: they are stored raw and mapped by ``sync.mapping``,
        so the client's per-row model parsing is skipped (``call``, not ``read_page``)."""
        body = {**filters, "currentPage": page, "itemsPerPage": per_page}
        envelope = await self.client.call(f"{resource}/read", body)
        results = envelope.results if envelope is not None else None
        if results is None and envelope is not None:  # a null page reads as an empty one
            results = []
        if isinstance(results, dict):  # PHP arrays with numeric keys can arrive as objects
            results = list(results.values())
        if envelope is None or not isinstance(results, list):
            raise EmagTransientError(
                "read answer without a list of results",
                reason="malformed",
                route=f"{resource}/read",
            )
        return [row for row in results if isinstance(row, dict)]

    async def vat_rates(self) -> dict[int, Decimal]:
        return {
            vat.vat_id: vat.vat_rate
            for vat in await self.client.read_vat()
            if vat.vat_id is not None and vat.vat_rate is not None
        }

    def stats(self) -> tuple[int, int, int]:
        stats = self.client.stats
        return stats.api_calls, stats.retries, stats.rate_limited


def client_source_factory(
    ctx: AppContext,
) -> Callable[[AccountCredentials], AbstractAsyncContextManager[ClientSource]]:
    @asynccontextmanager
    async def open_source(credentials: AccountCredentials) -> AsyncIterator[ClientSource]:
        async with ctx.emag_client(credentials) as client:
            yield ClientSource(client)

    return open_source
