"""SmartBill and Oblio adapters against their simulators: issue, refusals, outages, and an
answer lost after the provider issued (no second document)."""

from __future__ import annotations

from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.invoicing.sims import ProviderSim
from tests.invoicing.support import configure, finalized_orders, invoices
from tests.orders.support import Clients
from tests.support.simulation import Accounts


async def test_smartbill_refusals_outages_and_a_lost_answer_never_issue_twice(
    ctx: AppContext,
    api: str,
    sim: SimulatorServer,
    accounts: Accounts,
    clients: Clients,
    smartbill: tuple[ProviderSim, str],
) -> None:
    state, url = smartbill
    settings = await configure(
        clients,
        "main",
        api,
        provider="smartbill",
        provider_base_url=url,
        series="NOPE",
        credentials={"username": state.username, "token": state.token},
    )
    assert settings["has_credentials"] is True and "credentials" not in settings
    first, second = (await finalized_orders(ctx, sim, accounts))[:2]
    path = f"/api/v1/invoicing/orders/{first.id}/invoice"
    answer = (await clients.operator.post(path)).json()
    assert answer["state"] == "failed" and "series 'NOPE' does not exist" in answer["message"]
    assert (answer["failed_step"], answer["attempts"]) == ("issue", 0)  # refused before issuing
    await configure(clients, "main", api, provider="smartbill", provider_base_url=url, series="MFT")
    state.token_expired = True
    answer = (await clients.operator.post(path)).json()
    assert "authentication refused" in answer["message"]
    state.token_expired = False
    state.outage = True
    answer = (await clients.operator.post(path)).json()
    assert answer["state"] == "failed" and "HTTP 503" in answer["message"]
    assert answer["failed_step"] == "issue"
    state.outage = False
    assert state.issued == []
    answer = (await clients.operator.post(path)).json()
    assert (answer["state"], answer["series"], answer["number"]) == ("attached", "MFT", "0001")
    assert answer["attempts"] == 1  # the refusals and the outage came before any issue
    # the second order: SmartBill issues, the answer is lost; the retry sees the series moved
    # and asks a person instead of issuing again
    state.drop_after_issue = True
    path = f"/api/v1/invoicing/orders/{second.id}/invoice"
    answer = (await clients.operator.post(path)).json()
    assert answer["state"] == "failed" and answer["failed_step"] == "verify"
    assert answer["message"].endswith(
        "; MagFlow checks whether the document exists before issuing again"
    )
    state.drop_after_issue = False
    answer = (await clients.operator.post(path)).json()
    assert answer["failed_step"] == "verify" and "moved from 0002 to 0003" in answer["message"]
    assert len(state.issued) == 2  # nothing issued by the retry


async def test_oblio_token_renewal_and_a_lost_answer_resolved_by_the_idempotency_key(
    ctx: AppContext,
    api: str,
    sim: SimulatorServer,
    accounts: Accounts,
    clients: Clients,
    oblio: tuple[ProviderSim, str],
) -> None:
    state, url = oblio
    await configure(
        clients,
        "main",
        api,
        provider="oblio",
        provider_base_url=url,
        credentials={"email": state.username, "secret": "wrong"},
    )
    order = (await finalized_orders(ctx, sim, accounts))[0]
    path = f"/api/v1/invoicing/orders/{order.id}/invoice"
    answer = (await clients.operator.post(path)).json()
    assert "authentication refused" in answer["message"]
    await configure(
        clients,
        "main",
        api,
        provider="oblio",
        provider_base_url=url,
        credentials={"email": state.username, "secret": state.token},
    )
    state.drop_after_issue = True
    answer = (await clients.operator.post(path)).json()
    assert answer["failed_step"] == "verify"
    state.drop_after_issue = False
    answer = (await clients.operator.post(path)).json()
    assert (answer["state"], answer["number"]) == ("attached", "0001")
    assert len(state.issued) == 1
    (row,) = await invoices(ctx)
    assert row.pdf is not None and row.pdf.startswith(b"%PDF")
    # three asks to issue: the refused one, the lost one, and the retry that the idempotency
    # key answered with the lost one's document
    assert row.attempts == 3
    # the access token expires: a new one is asked for once, and the storno goes through
    state.token_expired = True
    note = (
        await clients.operator.post(
            f"/api/v1/invoicing/orders/{order.id}/credit-note",
            json={"lines": [{"index": 0, "quantity": 1}]},
        )
    ).json()
    assert (note["state"], note["number"]) == ("attached", "0002"), note
    reference = state.issued[-1]["body"]["referenceDocument"]
    assert reference == {"type": "Factura", "seriesName": "MFT", "number": "0001"}
