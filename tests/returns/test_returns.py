from __future__ import annotations

from magflow.accounts.service import credentials
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from tests.orders.support import Clients
from tests.support.simulation import Accounts


async def test_returns_are_read_into_the_returns_table(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    async with ctx.emag_client(credentials(ctx.cipher, accounts.main)) as client:
        expected = (await client.count("rma")).no_of_items
    assert expected
    response = await clients.operator.post("/api/v1/emag/returns/sync", params={"account": "main"})
    assert response.status_code == 200, response.text
    assert response.json()["read"] == expected
    # idempotent: a second read updates the same rows
    again = await clients.operator.post("/api/v1/emag/returns/sync", params={"account": "main"})
    assert again.json()["read"] == expected

    listing = (await clients.viewer.get("/api/v1/emag/returns", params={"limit": 500})).json()
    assert listing["total"] == expected
    first = listing["items"][0]
    assert first["emag_id"] and first["order_emag_id"] and first["products"]
    by_status = (
        await clients.viewer.get(
            "/api/v1/emag/returns", params={"request_status": first["request_status"]}
        )
    ).json()
    assert 1 <= by_status["total"] <= expected
    assert (await clients.viewer.post("/api/v1/emag/returns/sync?account=main")).status_code == 403
    assert (
        await clients.operator.post("/api/v1/emag/returns/sync?account=nope")
    ).status_code == 404
