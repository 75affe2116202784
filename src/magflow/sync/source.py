"""The eMAG client of one account, seen as the engine's :class:`~magflow.sync.engine.EmagSource`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Any

from magflow.accounts.service import AccountCredentials
from magflow.context import AppContext
from magflow.emag.client import EmagClient, ResourceSpec
from magflow.emag.schemas import EmagModel

# Rows are stored raw and mapped by ``sync.mapping``; the bare model skips per-field parsing.
_RAW = {name: ResourceSpec(name, EmagModel) for name in ("product_offer", "order")}


class ClientSource:
    def __init__(self, client: EmagClient) -> None:
        self.client = client

    async def count(self, resource: str, filters: dict[str, Any]) -> tuple[int, int]:
        result = await self.client.count(_RAW[resource], filters)
        items = result.no_of_items or 0
        return items, result.pages(100) or 0

    async def read_page(
        self, resource: str, filters: dict[str, Any], page: int, per_page: int
    ) -> list[dict[str, Any]]:
        result = await self.client.read_page(_RAW[resource], filters, page, per_page)
        return [row for row in result.raw if isinstance(row, dict)]

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
