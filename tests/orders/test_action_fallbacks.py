"""Order actions called in-process against a small simulator: what the local row keeps when
eMAG's re-read fails (the change MagFlow sent), an AWB whose number eMAG gives only later, the
attachments an order keeps, one invoice per order, and bulk acknowledgement's answers
(docs/emag-protocol.md, "Orders", "AWBs and couriers", "Attachments and invoices")."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update

from magflow.audit.models import AuditLog
from magflow.audit.service import SYSTEM
from magflow.context import AppContext
from magflow.emag.codes import OrderStatus
from magflow.emag_sim import SimConfig, SimulatorServer
from magflow.emag_sim.faults import IS_ERROR_MESSAGE
from magflow.invoicing.models import DocKind, Invoice, InvoiceState
from magflow.orders.actions import (
    ActionConflictError,
    ActionInputError,
    AwbNotFoundError,
    OrderActions,
    acknowledge_many,
)
from magflow.orders.models import EmagOrder
from tests.orders.support import (
    route_count,
    sim_control,
    sim_order,
    sim_stats,
    small_sim_config,
)
from tests.orders.test_actions import SENDER, local_orders, new_orders
from tests.support.simulation import Accounts, set_faults

T = TypeVar("T")


@pytest.fixture
def sim_config() -> SimConfig:
    # awb/save answers with the reservation alone: the number comes from awb/read
    return replace(small_sim_config(offers=4, orders=4), awb_answer="reservation")


async def act(ctx: AppContext, call: Callable[[OrderActions], Awaitable[T]]) -> T:
    """One action in its own unit of work, committed as the routes do."""
    async with ctx.db.session() as session:
        result = await call(OrderActions(ctx, session, SYSTEM))
        await session.commit()
        return result


async def attach(ctx: AppContext, order_id: int, request: dict[str, Any]) -> None:
    await act(ctx, lambda a: a.attach(order_id, request))


async def audit_rows(ctx: AppContext, action: str) -> list[AuditLog]:
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        )
        return list(rows.scalars())


async def stored(ctx: AppContext, accounts: Accounts, order: EmagOrder) -> EmagOrder:
    return (await local_orders(ctx, accounts.main.id))[order.emag_id]


async def test_without_emags_re_read_the_order_keeps_what_was_sent(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """eMAG applied the write but the read after it fails: the order takes the change MagFlow
    sent (acknowledged: 2; an AWB: finalized 4; an attachment: in its list) and the answer says
    ``refreshed`` False."""
    order, other = await new_orders(ctx, sim, accounts, 2)
    await set_faults(sim, is_error=1.0, routes=["order/read", "awb/read"])

    result = await act(ctx, lambda a: a.acknowledge(order.id))
    assert result.refreshed is False and result.sent is True
    row = await stored(ctx, accounts, order)
    assert row.status == OrderStatus.IN_PROGRESS and row.acknowledged_at is not None
    assert (await sim_order(sim, order.emag_id))["status"] == OrderStatus.IN_PROGRESS

    # awb/save answers the reservation alone and awb/read fails: the AWB stands, without its
    # number yet; its label waits for eMAG to give it
    awb = await act(ctx, lambda a: a.create_awb(order.id, {"sender": SENDER, "parcel_number": 1}))
    assert awb.refreshed is False
    reservation = awb.extra["reservation_id"]
    assert reservation is not None
    assert (awb.extra["awb_number"], awb.extra["emag_id"]) == (None, None)
    row = await stored(ctx, accounts, order)
    assert row.status == OrderStatus.FINALIZED
    assert (row.awb_number, row.awb_emag_id, row.awb_reservation_id) == (None, None, reservation)
    assert (await sim_order(sim, order.emag_id))["status"] == OrderStatus.FINALIZED
    with pytest.raises(AwbNotFoundError) as missing:
        await act(ctx, lambda a: a.awb_label(order.id, "A6"))
    assert str(missing.value) == f"eMAG has no AWB for reservation {reservation} yet"

    url = f"https://files.example.com/invoices/{order.emag_id}.pdf"
    attached = await act(ctx, lambda a: a.attach(order.id, {"url": url, "name": "Factura"}))
    assert attached.refreshed is False
    invoice = {
        "order_id": order.emag_id,
        "order_type": order.order_type,
        "name": "Factura",
        "url": url,
        "type": 1,
        "force_download": 0,
    }
    manual = {**invoice, "url": url.replace(".pdf", "-manual.pdf"), "name": "Manual", "type": 4}
    await attach(ctx, order.id, {"url": manual["url"], "name": "Manual", "type": "user_manual"})
    # attached again under another name: replaced, not listed twice; the other one stays
    again = {"url": url, "name": "Factura 2", "force_download": True}
    await attach(ctx, order.id, again)
    row = await stored(ctx, accounts, order)
    assert row.attachments == [manual, {**invoice, "name": "Factura 2", "force_download": 1}]
    assert row.has_invoice is True
    # the status was kept through the attachments' fallback
    assert row.status == OrderStatus.FINALIZED

    # eMAG gives the AWB now: the label reads its ids back and the order keeps them
    await set_faults(sim)
    label = await act(ctx, lambda a: a.awb_label(order.id, "A6"))
    row = await stored(ctx, accounts, order)
    assert row.awb_number is not None and row.awb_number.startswith("4EMGSIM")
    assert row.awb_emag_id is not None and row.awb_reservation_id == reservation
    assert label.content.startswith(b"%PDF") and row.awb_number.encode() in label.content
    reads = route_count(await sim_stats(sim), "awb/read")
    await act(ctx, lambda a: a.awb_label(order.id, "A6"))  # known now: not read again
    assert route_count(await sim_stats(sim), "awb/read") == reads

    # an order with no AWB through MagFlow has no label
    with pytest.raises(AwbNotFoundError) as missing:
        await act(ctx, lambda a: a.awb_label(other.id, "A4"))
    assert str(missing.value) == f"order {other.id} has no AWB issued through MagFlow"


async def test_an_awb_number_read_back_at_once(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    (order,) = await new_orders(ctx, sim, accounts, 1)
    await act(ctx, lambda a: a.acknowledge(order.id))
    request = {"sender": SENDER, "parcel_number": 1, "cod": 0}
    awb = await act(ctx, lambda a: a.create_awb(order.id, request))
    number, emag_id = awb.extra["awb_number"], awb.extra["emag_id"]
    assert awb.refreshed is True and number.startswith("4EMGSIM") and emag_id
    assert awb.extra["cod"] == 0
    row = await stored(ctx, accounts, order)
    assert (row.awb_number, row.awb_emag_id) == (number, emag_id)
    assert row.awb_reservation_id == awb.extra["reservation_id"]
    [sent] = await audit_rows(ctx, "orders.awb")
    assert (sent.success, sent.status_code, sent.messages) == (True, 200, [])
    assert sent.target == f"order:{order.emag_id}" and sent.emag_route == "awb/save"
    assert sent.request["data"]["cod"] == 0
    assert sent.response["reservation_id"] == awb.extra["reservation_id"]
    [ack] = await audit_rows(ctx, "orders.acknowledge")
    assert (ack.success, ack.status_code, ack.messages) == (True, 200, [])


async def test_a_status_change_of_an_order_emag_does_not_return_sends_nothing(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    (order,) = await new_orders(ctx, sim, accounts, 1)
    async with ctx.db.session() as session:
        await session.execute(
            update(EmagOrder).where(EmagOrder.id == order.id).values(emag_id=order.emag_id + 10**6)
        )
        await session.commit()
    saves = route_count(await sim_stats(sim), "order/save")
    with pytest.raises(ActionConflictError) as refused:
        await act(ctx, lambda a: a.change_status(order.id, OrderStatus.PREPARED))
    assert str(refused.value) == (
        f"eMAG returned no order {order.emag_id + 10**6} of type 3; nothing was sent (a sync "
        "of the orders shows what eMAG holds)"
    )
    assert route_count(await sim_stats(sim), "order/save") == saves


async def test_a_reason_is_sent_only_with_a_cancellation(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    (order,) = await new_orders(ctx, sim, accounts, 1)
    await act(ctx, lambda a: a.acknowledge(order.id))
    result = await act(ctx, lambda a: a.change_status(order.id, OrderStatus.PREPARED, reason=5))
    assert result.sent is True and result.refreshed is True and result.emag_messages == []
    assert result.order.status == OrderStatus.PREPARED
    [save] = await audit_rows(ctx, "orders.status")
    [sent] = save.request["data"]
    assert sent["status"] == OrderStatus.PREPARED and sent.get("reason_cancellation") is None
    assert (save.status_code, save.success, save.error_kind) == (200, True, None)

    # asked again: eMAG already has it, nothing is sent and the answer says why
    again = await act(ctx, lambda a: a.change_status(order.id, OrderStatus.PREPARED))
    assert (again.sent, again.refreshed) == (False, True)
    assert again.note == "nothing sent: eMAG already has it prepared"
    assert len(await audit_rows(ctx, "orders.status")) == 1


async def test_fbe_refusals_name_the_action(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    created = await sim_control(
        sim, "POST", "/_sim/accounts/main/orders/new", json={"count": 1, "type": 2}
    )
    await new_orders(ctx, sim, accounts, 1)  # syncs the FBE one too
    fbe = (await local_orders(ctx, accounts.main.id))[created["created"][0]]
    for call, action in (
        (lambda a: a.acknowledge(fbe.id), "acknowledge"),
        (lambda a: a.change_status(fbe.id, OrderStatus.PREPARED), "change the status of"),
        (lambda a: a.create_awb(fbe.id, {"sender": SENDER}), "issue an AWB for"),
    ):
        with pytest.raises(ActionConflictError) as refused:
            await act(ctx, call)
        assert f"so MagFlow does not {action} it (only documents" in str(refused.value)


async def test_a_refused_attachment_is_audited_with_emags_answer(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    (order,) = await new_orders(ctx, sim, accounts, 1)
    url = "https://files.example.com/invoice.docx"
    with pytest.raises(Exception, match="Only PDF"):
        await act(ctx, lambda a: a.attach(order.id, {"url": url, "name": "Factura"}))
    [row] = await audit_rows(ctx, "orders.attachment")
    assert row.success is False and row.error_kind == "validation"
    assert row.status_code == 200  # eMAG refuses in a 200 answer
    assert any("Only PDF" in m for m in row.messages or [])
    assert row.response and row.response[0]["isError"] is True
    # what was sent, to which route, for which order
    assert (row.emag_route, row.target) == ("order/attachments/save", f"order:{order.emag_id}")
    sent = {"order_id": order.emag_id, "order_type": 3, "name": "Factura", "url": url}
    assert row.request == {"data": [{**sent, "type": 1, "force_download": 0}]}
    assert (await stored(ctx, accounts, order)).attachments in (None, [])


async def test_attachment_types_and_order_lines(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    (order,) = await new_orders(ctx, sim, accounts, 1)
    line = (order.products or [{}])[0].get("id")
    assert line is not None
    url = "https://files.example.com/warranty.pdf"
    with pytest.raises(ActionInputError) as refused:
        await act(ctx, lambda a: a.attach(order.id, {"url": url, "name": "x", "type": "poster"}))
    assert str(refused.value) == "unknown attachment type 'poster'"
    with pytest.raises(ActionInputError) as refused:
        await act(ctx, lambda a: a.attach(order.id, {"url": url, "name": "x", "type": 3}))
    assert str(refused.value) == "a warranty needs order_product_id (the order line id)"
    await act(
        ctx,
        lambda a: a.attach(
            order.id, {"url": url, "name": "Garantie", "type": 3, "order_product_id": line}
        ),
    )
    manual = "https://files.example.com/manual.pdf"
    await attach(ctx, order.id, {"url": manual, "name": "M", "type": "user_manual"})
    on_emag = {a["url"]: a for a in (await sim_order(sim, order.emag_id))["attachments"]}
    assert on_emag[url]["type"] == 3 and on_emag[url]["order_product_id"] == line
    assert on_emag[manual]["type"] == 4
    row = await stored(ctx, accounts, order)
    assert row.has_invoice is False  # a warranty and a manual are no invoice


async def _document(
    ctx: AppContext, order: EmagOrder, kind: DocKind, state: InvoiceState, **values: Any
) -> Invoice:
    async with ctx.db.session() as session:
        document = Invoice(
            account_id=order.account_id,
            order_id=order.id,
            kind=kind.value,
            provider="builtin",
            state=state.value,
            reference=uuid.uuid4().hex,
            token=uuid.uuid4().hex,
            **values,
        )
        session.add(document)
        await session.commit()
        return document


async def test_one_invoice_per_order(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """Once MagFlow's invoicing has asked for the order's invoice, an invoice by another URL is
    refused before eMAG is asked; a failed or never-issued one, a credit note and other kinds
    of document leave it free; MagFlow's own documents attach."""
    issued, issuing, failed, pending = await new_orders(ctx, sim, accounts, 4)
    elsewhere = {"url": "https://billing.example/f/99.pdf", "name": "Factura EXT99"}
    await _document(ctx, failed, DocKind.invoice, InvoiceState.failed)
    await _document(ctx, pending, DocKind.invoice, InvoiceState.pending)
    await _document(
        ctx, pending, DocKind.credit_note, InvoiceState.issued, series="MFS", number="9"
    )
    own = await _document(
        ctx, issued, DocKind.invoice, InvoiceState.issued, series="MFT", number="000001"
    )
    await _document(ctx, issuing, DocKind.invoice, InvoiceState.issuing)
    saves = route_count(await sim_stats(sim), "order/attachments/save")

    with pytest.raises(ActionInputError) as refused:
        await act(ctx, lambda a: a.attach(issued.id, elsewhere))
    assert str(refused.value) == (
        "MagFlow already issued this order's invoice (MFT000001, issued): one invoice per order"
    )
    with pytest.raises(ActionInputError) as refused:
        await act(ctx, lambda a: a.attach(issuing.id, {**elsewhere, "type": 1}))
    assert "(without a number yet, issuing)" in str(refused.value)
    assert route_count(await sim_stats(sim), "order/attachments/save") == saves

    # a warranty is not a second invoice; MagFlow's own PDF is the invoice itself
    warranty = {"url": "https://files.example.com/w.pdf", "name": "Garantie", "type": "warranty"}
    line = (issued.products or [{}])[0].get("id")
    await act(ctx, lambda a: a.attach(issued.id, {**warranty, "order_product_id": line}))
    own_url = f"https://magflow.example/invoices/files/{own.token}.pdf"
    await act(ctx, lambda a: a.attach(issued.id, {"url": own_url, "name": "Factura MFT000001"}))
    urls = {a["url"] for a in (await sim_order(sim, issued.emag_id))["attachments"]}
    assert {warranty["url"], own_url} <= urls
    for free in (failed, pending):
        await attach(ctx, free.id, elsewhere)
        on_emag = (await sim_order(sim, free.emag_id))["attachments"]
        assert elsewhere["url"] in {a["url"] for a in on_emag}


async def test_bulk_acknowledgement_answers_each_order_once(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts
) -> None:
    """A repeated id is acknowledged once; the caller's commit runs after each acknowledged
    order; an error that is not about credentials does not stop the others, and each answer
    carries eMAG's message."""
    first, second, third = await new_orders(ctx, sim, accounts, 3)
    commits: list[int] = []
    async with ctx.db.session() as session:

        async def commit() -> None:
            commits.append(1)
            await session.commit()

        actions = OrderActions(ctx, session, SYSTEM)
        ids = [first.id, second.id, first.id, 987654]
        outcomes = await acknowledge_many(actions, ids, after_each=commit)
        await session.commit()
    assert [(o.order_id, o.ok, o.status) for o in outcomes] == [
        (first.id, True, 2),
        (second.id, True, 2),
        (987654, False, None),
    ]
    assert outcomes[2].error == "no order 987654"
    assert len(commits) == 2
    assert route_count(await sim_stats(sim), "order/acknowledge") == 2

    await set_faults(sim, is_error=1.0, routes=["order/acknowledge"])
    async with ctx.db.session() as session:
        outcomes = await acknowledge_many(OrderActions(ctx, session, SYSTEM), [third.id, first.id])
    assert [o.ok for o in outcomes] == [False, False]
    for outcome in outcomes:
        assert outcome.emag_messages == [IS_ERROR_MESSAGE]
        # eMAG's refusal as the client sums it up, no hint to add (and it was sent)
        assert outcome.error == "eMAG answered isError"
    assert route_count(await sim_stats(sim), "order/acknowledge") == 4
