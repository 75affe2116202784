"""The return and documentation callbacks end to end: the simulator fires them on its events,
MagFlow reads what they announce from eMAG and stores it (docs/emag-protocol.md, "Callbacks")."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from magflow.catalog.models import EmagOffer
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.emag_sim.state import ORDER_ID_BASE, RMA_ID_BASE
from magflow.returns.models import EmagReturn
from tests.intake.support import eventually
from tests.orders.support import Clients, sim_control
from tests.support.simulation import Accounts

#: A legal next request_status of a return in each status the simulator makes a fresh one
#: (docs/emag-protocol.md, "Returns").
NEXT_STATUS = {2: 3, 3: 6, 6: 7}


async def _configure(sim: SimulatorServer, clients: Clients, name: str) -> dict[str, str]:
    answer = (await clients.admin.get(f"/api/v1/accounts/{name}/callbacks")).json()
    urls = {u["kind"]: u["url"] for u in answer["urls"]}
    await sim_control(sim, "POST", f"/_sim/accounts/{name}/callbacks", json=urls)
    return urls


async def test_return_callbacks_store_the_new_return_and_its_status_changes(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    await _configure(sim, clients, "main")
    idx = 0
    while (await sim_control(sim, "GET", f"/_sim/accounts/main/orders/{ORDER_ID_BASE + idx}"))[
        "status"
    ] == 5:
        idx += 1
    order_id, rma_id = ORDER_ID_BASE + idx, RMA_ID_BASE + idx  # "main" is the first account
    # eMAG: the order is returned, its RMA appears and the return callback fires.
    await sim_control(
        sim, "POST", f"/_sim/accounts/main/orders/{order_id}/edit", json={"status": 5}
    )

    async def stored(status: int | None = None) -> Any:
        async with ctx.db.session() as session:
            row = await session.scalar(
                select(EmagReturn).where(
                    EmagReturn.account_id == accounts.main.id, EmagReturn.emag_id == rma_id
                )
            )
        return row if row is not None and status in (None, row.request_status) else None

    first = await eventually(stored)
    assert first.order_emag_id == order_id
    # The return's status changes on eMAG: the callback fires again and MagFlow follows.
    after = NEXT_STATUS[first.request_status]
    await sim_control(
        sim,
        "POST",
        f"/_sim/accounts/main/returns/{rma_id}/status",
        json={"request_status": after},
    )
    await eventually(lambda: stored(after))


async def test_documentation_callback_stores_the_offers_new_validation_status(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    urls = await _configure(sim, clients, "main")
    async with httpx.AsyncClient() as client:
        for query, detail in [
            ({}, "product_id is required"),
            ({"product_id": "x1"}, "product_id must be a positive whole number"),
        ]:
            answer = await client.get(urls["documentation"], params=query)
            assert (answer.status_code, answer.json()["detail"]) == (400, detail)
    offer_id = 1
    while (await sim_control(sim, "GET", f"/_sim/accounts/main/offers/{offer_id}"))[
        "validation_status"
    ][0]["value"] not in (1, 2, 3, 4, 11):
        offer_id += 1
    approved = await sim_control(
        sim, "POST", f"/_sim/accounts/main/offers/{offer_id}/approve-documentation"
    )
    assert approved["validation_status"][0]["value"] == 9

    async def stored() -> Any:
        async with ctx.db.session() as session:
            return await session.scalar(
                select(EmagOffer).where(
                    EmagOffer.account_id == accounts.main.id,
                    EmagOffer.emag_id == offer_id,
                    EmagOffer.validation_status == 9,
                )
            )

    await eventually(stored)
