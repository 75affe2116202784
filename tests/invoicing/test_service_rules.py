"""The invoicing service's own rules, found unasserted by the mutation run (issue 19): which
requests are refused, the built-in numbering per series, the states and attempts of a row, the
lease, and what the job's tick creates. The built-in provider and no public address: every row
stops before eMAG (``attach`` fails with its message), so no server is needed."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from magflow.accounts.models import EmagAccount
from magflow.audit.models import AuditLog
from magflow.common.errors import NotFoundError
from magflow.context import AppContext
from magflow.emag.errors import EmagIpNotWhitelistedError, EmagValidationError
from magflow.invoicing import cui, render, repository
from magflow.invoicing.document import DocumentError
from magflow.invoicing.models import DocKind, Invoice, InvoicingSettings
from magflow.invoicing.service import (
    ELSEWHERE,
    LEASE_SECONDS,
    InvoicingError,
    InvoicingService,
    NotConfiguredError,
    _emag_message,
    _issued_elsewhere,
    _pick,
    ensure_demo_settings,
    public_url,
    reference_of,
)
from magflow.invoicing.sims import PDF, ProviderSim
from magflow.orders.models import EmagOrder
from tests.factories import make_account

_emag_ids = itertools.count(9001)
NO_URL = (
    "no public_base_url in the invoicing settings: eMAG needs an address to download the PDF from"
)
CUSTOMER = {
    "name": "Ion Popescu",
    "billing_name": "Ion Popescu",
    "billing_street": "Str. Lungă 4",
    "billing_city": "Iași",
    "billing_country": "RO",
    "legal_entity": 0,
}
BOOK = {"status": 1, "quantity": 2, "sale_price": "50.00", "vat": "0.09", "part_number": "PN9"}


async def _account(ctx: AppContext, **settings: Any) -> EmagAccount:
    account = await make_account(ctx)
    async with ctx.db.session() as session:
        session.add(
            InvoicingSettings(
                **{
                    "account_id": account.id,
                    "provider": "builtin",
                    "series": "MFT",
                    "seller_name": "Vânzător SRL",
                    "seller_cui": "RO18547290",
                    "seller_country": "RO",
                    "vat_payer": True,
                    **settings,
                }
            )
        )
        await session.commit()
    return account


async def _order(ctx: AppContext, account: EmagAccount, **values: Any) -> EmagOrder:
    raw = values.pop("raw", {"products": [BOOK]})
    order = EmagOrder(
        account_id=account.id,
        emag_id=next(_emag_ids),
        currency="RON",
        products=raw.get("products"),
        raw=raw,
        last_seen_at=datetime.now(UTC),
        **{"customer": CUSTOMER, "status": 4, **values},
    )
    async with ctx.db.session() as session:
        session.add(order)
        await session.commit()
    return order


async def _rows(ctx: AppContext) -> list[Invoice]:
    async with ctx.db.session() as session:
        return list((await session.execute(select(Invoice).order_by(Invoice.id))).scalars())


async def _set(ctx: AppContext, model: Any, row_id: int, **values: Any) -> None:
    async with ctx.db.session() as session:
        await session.execute(update(model).where(model.id == row_id).values(**values))
        await session.commit()


def _pdf_body(pdf: bytes) -> bytes:
    """A PDF without what changes at each rendering (its creation time and file id)."""
    return re.sub(rb"\(D:\d+Z\)|/ID \[<[0-9A-F]+><[0-9A-F]+>\]", b"", pdf)


# --- pure rules ----------------------------------------------------------------------------------


def test_reference_and_public_url() -> None:
    assert reference_of(3, 4567, DocKind.invoice) == "MF-3-4567-F"
    assert reference_of(3, 4567, DocKind.credit_note) == "MF-3-4567-S"
    settings = InvoicingSettings(public_base_url="https://shop.example/mf/")
    assert public_url(settings, "tok") == "https://shop.example/mf/invoices/files/tok.pdf"
    settings = InvoicingSettings(public_base_url="https://SHOP.example/MFX")  # only "/" trimmed
    assert public_url(settings, "tok") == "https://SHOP.example/MFX/invoices/files/tok.pdf"


def test_a_partial_storno_by_line_takes_only_what_was_invoiced() -> None:
    invoiced = [
        {"kind": "product", "quantity": "2", "unit_price": "10.00"},
        {"kind": "shipping", "quantity": "1", "unit_price": "5.00"},
    ]
    picked = _pick(invoiced, [{"index": 0, "quantity": 2.0}, {"index": 1, "quantity": "1"}])
    assert [(x["kind"], x["quantity"]) for x in picked] == [("product", "2"), ("shipping", "1")]
    for requested, message in (
        ({"index": 2, "quantity": 1}, "the invoice has no line 2"),
        ({"index": -1, "quantity": 1}, "the invoice has no line -1"),
        ({"index": 0, "quantity": 0}, "line 0: quantity must be above 0 and at most 2"),
        ({"index": 0, "quantity": "2.5"}, "line 0: quantity must be above 0 and at most 2"),
    ):
        with pytest.raises(DocumentError) as refused:
            _pick(invoiced, [requested])
        assert str(refused.value) == message


@pytest.mark.parametrize(
    ("kind", "state", "step", "number", "has_invoice", "elsewhere"),
    [
        ("invoice", "pending", None, None, True, True),
        ("invoice", "failed", "document", None, True, True),
        ("invoice", "failed", "issue", None, True, True),
        ("invoice", "pending", None, None, False, False),
        ("invoice", "pending", None, None, None, False),
        ("invoice", "issuing", None, None, True, False),  # the provider may have issued
        ("invoice", "failed", "verify", None, True, False),
        ("invoice", "failed", "attach", "000001", True, False),
        ("invoice", "pending", None, "000001", True, False),
        ("credit_note", "pending", None, None, True, False),
    ],
)
def test_an_invoice_from_elsewhere_stops_only_an_unissued_invoice(
    kind: str, state: str, step: str | None, number: str | None, has_invoice: bool | None,
    elsewhere: bool,
) -> None:  # fmt: skip
    invoice = Invoice(kind=kind, state=state, failed_step=step, number=number)
    assert _issued_elsewhere(invoice, EmagOrder(has_invoice=has_invoice)) is elsewhere


def test_emags_message_and_what_to_do() -> None:
    refused = EmagValidationError(
        "refused", route="order/attachments/save", messages=["Bad url", "Too long"]
    )
    assert _emag_message(refused) == "eMAG: Bad url; Too long"
    bare = EmagValidationError("not processed", route="order/attachments/save")
    assert _emag_message(bare) == "eMAG: not processed"
    ip = EmagIpNotWhitelistedError(
        "refused", route="order/attachments/save", messages=["Invalid vendor ip [1.2.3.4]"]
    )
    assert ip.hint and _emag_message(ip) == f"eMAG: Invalid vendor ip [1.2.3.4] ({ip.hint})"


# --- requests and the built-in numbering --------------------------------------------------------


async def test_requests_that_cannot_be_done_are_refused_and_leave_no_row(ctx: AppContext) -> None:
    service = InvoicingService(ctx)
    with pytest.raises(NotFoundError) as unknown:
        await service.request(424242)
    assert str(unknown.value) == "no order 424242"  # the API's 404
    bare = await make_account(ctx)
    with pytest.raises(NotConfiguredError) as unconfigured:
        await service.request((await _order(ctx, bare)).id)
    assert str(unconfigured.value) == (
        "invoicing is not configured for this account (PUT /api/v1/invoicing/settings)"
    )
    account = await _account(ctx)
    order = await _order(ctx, account)
    with pytest.raises(InvoicingError) as refused:
        await service.request(order.id, DocKind.credit_note)
    assert str(refused.value) == "the order has no issued invoice to reverse"
    unnumbered = await _order(ctx, account, customer={})
    assert (await service.request(unnumbered.id)).failed_step == "document"
    with pytest.raises(InvoicingError, match="the order has no issued invoice to reverse"):
        await service.request(unnumbered.id, DocKind.credit_note)
    elsewhere = await _order(ctx, account, has_invoice=True)
    with pytest.raises(InvoicingError) as refused:
        await service.request(elsewhere.id)
    assert str(refused.value) == ELSEWHERE
    assert [(r.order_id, r.kind) for r in await _rows(ctx)] == [(unnumbered.id, "invoice")]
    with pytest.raises(NotFoundError) as unknown:
        await service.get(424242)
    assert str(unknown.value) == "no invoice 424242"


async def test_the_builtin_provider_numbers_each_series_and_keeps_the_row(
    ctx: AppContext,
) -> None:
    account = await _account(ctx)
    first, second = await _order(ctx, account), await _order(ctx, account)
    service = InvoicingService(ctx)
    invoice = await service.request(first.id)
    # issued, then stopped before eMAG: no public address to give it
    assert (invoice.state, invoice.failed_step, invoice.message) == ("failed", "attach", NO_URL)
    assert (invoice.series, invoice.number, invoice.attempts) == ("MFT", "000001", 1)
    assert invoice.reference == f"MF-{account.id}-{first.emag_id}-F"
    assert (invoice.kind, invoice.provider, invoice.currency) == ("invoice", "builtin", "RON")
    assert invoice.total == Decimal("109.00")
    assert invoice.issued_at is not None and invoice.claimed_by is None
    # the PDF is its document's, under its series and number
    assert invoice.pdf is not None and invoice.document is not None
    assert _pdf_body(invoice.pdf) == _pdf_body(render.pdf(invoice.document, "MFT", "000001"))
    assert invoice.xml is not None and "<cbc:ID>MFT000001</cbc:ID>" in invoice.xml
    assert invoice.document is not None and invoice.document["totals"]["gross"] == "109.00"
    assert "reverses" not in invoice.document and "full" not in invoice.document
    assert len(invoice.token) == 43  # 32 random bytes
    # asked again (the order changed meanwhile): the same row and document, nothing issued again
    await _set(ctx, EmagOrder, first.id, customer={**CUSTOMER, "billing_name": "Alt Nume"})
    again = await service.request(first.id)
    assert (again.id, again.number, again.attempts) == (invoice.id, "000001", 1)
    assert again.document == invoice.document
    assert (await service.request(second.id)).number == "000002"
    # the order returned: its credit note, in the invoice series (no credit series set)
    await _set(ctx, EmagOrder, first.id, status=5)
    note = await service.request(first.id, DocKind.credit_note)
    assert (note.kind, note.series, note.number) == ("credit_note", "MFT", "000003")
    assert note.reference == f"MF-{account.id}-{first.emag_id}-S"
    assert note.document is not None and note.document["full"] is True
    assert note.document["reverses"] == {
        "series": "MFT",
        "number": "000001",
        "issue_date": invoice.document["issue_date"],
    }
    assert note.total == Decimal("-109.00")
    async with ctx.db.session() as session:
        audit = list((await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars())
    issued = [a for a in audit if a.action.startswith("invoicing.")]
    assert [(a.action, a.emag_route, a.target, a.success, a.status_code) for a in issued] == [
        ("invoicing.issue", "builtin:invoice", f"order:{first.emag_id}", True, 200),
        ("invoicing.issue", "builtin:invoice", f"order:{second.emag_id}", True, 200),
        ("invoicing.reverse", "builtin:credit_note", f"order:{first.emag_id}", True, 200),
    ]
    assert issued[0].request == {
        "reference": invoice.reference,
        "totals": {"net": "100.00", "vat": "9.00", "gross": "109.00"},
    }
    assert issued[0].response == {"series": "MFT", "number": "000001"}
    assert all(a.account_id == account.id for a in issued)


async def test_a_credit_series_numbers_credit_notes_apart(ctx: AppContext) -> None:
    account = await _account(ctx, credit_series="MFS")
    order = await _order(ctx, account, raw={"products": [BOOK, {**BOOK, "part_number": "PN2"}]})
    service = InvoicingService(ctx)
    assert (await service.request(order.id)).number == "000001"
    # a partial storno asked by line: one unit of the second line
    note = await service.request(order.id, DocKind.credit_note, lines=[{"index": 1, "quantity": 1}])
    assert (note.series, note.number) == ("MFS", "000001")
    assert note.document is not None and note.document["full"] is False
    assert [(x["code"], x["quantity"]) for x in note.document["lines"]] == [("PN2", "-1")]
    assert note.total == Decimal("-54.50")


async def test_nothing_to_reverse_is_a_failed_document(ctx: AppContext) -> None:
    account = await _account(ctx)
    order = await _order(ctx, account)
    service = InvoicingService(ctx)
    await service.request(order.id)
    note = await service.request(order.id, DocKind.credit_note)  # the order holds every line
    assert (note.state, note.failed_step, note.number) == ("failed", "document", None)
    assert note.message == "nothing to reverse: the order holds every line"


async def test_a_failed_document_is_retried_once_the_data_is_fixed(ctx: AppContext) -> None:
    account = await _account(ctx)
    order = await _order(ctx, account, customer={})
    service = InvoicingService(ctx)
    failed = await service.request(order.id)
    assert (failed.state, failed.failed_step, failed.attempts) == ("failed", "document", 0)
    assert failed.message == "the order has no billing data"
    assert failed.document is None and failed.number is None
    await _set(ctx, EmagOrder, order.id, customer=CUSTOMER)
    fixed = await service.request(order.id)
    assert (fixed.id, fixed.number, fixed.failed_step, fixed.attempts) == (
        failed.id,
        "000001",
        "attach",
        1,
    )
    # meanwhile an invoice from elsewhere on another order's failed first attempt: none issued
    other = await _order(ctx, account, customer={})
    await service.request(other.id)
    await _set(ctx, EmagOrder, other.id, has_invoice=True, customer=CUSTOMER)
    stopped = await service.request(other.id)
    assert (stopped.state, stopped.failed_step, stopped.number) == ("failed", "issue", None)
    assert stopped.message == ELSEWHERE
    # a message is kept to 2,000 characters (here eMAG's CUI field holding a whole paragraph)
    pasted = await _order(
        ctx, account, customer={**CUSTOMER, "legal_entity": 1, "code": "9" * 3000}
    )
    message = (await service.request(pasted.id)).message
    assert message is not None and len(message) == 2000
    assert message.startswith("the buyer's CUI '999")


async def test_a_held_invoice_is_left_alone_until_its_lease_is_stale(ctx: AppContext) -> None:
    account = await _account(ctx)
    order = await _order(ctx, account)
    service = InvoicingService(ctx, worker="me")
    pending = await service.request(order.id, wait=False)
    assert (pending.state, pending.attempts, pending.document) == ("pending", 0, None)
    held_at = datetime.now(UTC) - timedelta(seconds=LEASE_SECONDS - 30)
    await _set(ctx, Invoice, pending.id, claimed_by="other", claimed_at=held_at)
    assert await service.process(pending.id) == "busy"
    assert await service.tick() == []  # the job leaves it too
    assert (await service.request(order.id)).state == "pending"  # a click answers the state
    stale = datetime.now(UTC) - timedelta(seconds=LEASE_SECONDS + 1)
    await _set(ctx, Invoice, pending.id, claimed_at=stale)
    assert await service.process(pending.id) == "failed"  # taken over: issued, no address
    row = await service.get(pending.id)
    assert (row.number, row.claimed_by, row.claimed_at) == ("000001", None, None)
    # the job takes a stale lease over too
    other = await _order(ctx, account)
    left = await service.request(other.id, wait=False)
    await _set(ctx, Invoice, left.id, claimed_by="dead", claimed_at=stale)
    assert await service.tick() == [left.id]
    assert (await service.get(left.id)).number == "000002"


async def test_the_job_holds_each_invoice_while_it_works_on_it(ctx: AppContext) -> None:
    account = await _account(ctx, trigger="finalized")
    order = await _order(ctx, account)
    job = InvoicingService(ctx, worker="job")
    seen: list[tuple[Any, ...]] = []

    async def meanwhile(invoice_id: int) -> None:  # between "issued" and "attached"
        row = await job.get(invoice_id)
        busy = await InvoicingService(ctx, worker="click").process(invoice_id)
        held = row.claimed_at is not None
        seen.append(
            (row.state, row.failed_step, row.message, row.number, row.claimed_by, held, busy)
        )

    job.steps.after_issue = meanwhile
    (moved,) = await job.tick()
    assert seen == [("issued", None, None, "000001", "job", True, "busy")]
    row = await job.get(moved)
    assert (row.order_id, row.claimed_by, row.failed_step) == (order.id, None, "attach")


# --- the job -------------------------------------------------------------------------------------


async def test_the_tick_creates_invoices_and_the_credit_notes_due(ctx: AppContext) -> None:
    account = await _account(ctx, trigger="finalized")
    kept, returned, cancelled, stornoed, lowered = [await _order(ctx, account) for _ in range(5)]
    other = await _order(ctx, account, raw={"products": [{**BOOK, "part_number": "PN2"}]})
    elsewhere = await _order(ctx, account, has_invoice=True)
    shipping = await _order(ctx, account, status=3, awb_number="AWB1")  # not finalized yet
    service = InvoicingService(ctx)
    moved = await service.tick()
    rows = await _rows(ctx)
    assert sorted(moved) == [r.id for r in rows]
    assert {r.order_id for r in rows} == {
        o.id for o in (kept, returned, cancelled, stornoed, lowered, other)
    }
    assert {(r.kind, r.state, r.failed_step) for r in rows} == {("invoice", "failed", "attach")}
    assert sorted(r.number for r in rows) == [f"00000{i}" for i in range(1, 7)]
    assert elsewhere.id not in {r.order_id for r in rows}
    assert shipping.id not in {r.order_id for r in rows}  # the trigger is "finalized", not "awb"
    for row in rows:  # as if eMAG had taken them
        await _set(ctx, Invoice, row.id, state="attached", failed_step=None, message=None)
    # the next sync: one returned, one stornoed (a line gone, the total lower), and one whose
    # total is lower but whose lines are all there (VAT rounding): no credit note for it
    await _set(ctx, EmagOrder, returned.id, status=5)
    await _set(ctx, EmagOrder, cancelled.id, status=0)
    raw = {"products": [{**BOOK, "quantity": 1}]}
    await _set(ctx, EmagOrder, stornoed.id, raw=raw, products=raw["products"])
    for order in (returned, stornoed, lowered):
        await _set(ctx, EmagOrder, order.id, total_with_vat=Decimal("50.00"))
    await service.tick()
    notes = {r.order_id: r for r in await _rows(ctx) if r.kind == "credit_note"}
    assert set(notes) == {returned.id, cancelled.id, stornoed.id}
    for full in (notes[returned.id], notes[cancelled.id]):  # every line given back
        assert full.document is not None and full.document["full"] is True
        assert full.total == Decimal("-109.00")
    assert notes[stornoed.id].document is not None
    assert [x["quantity"] for x in notes[stornoed.id].document["lines"]] == ["-1"]
    assert notes[stornoed.id].document["full"] is False
    assert len(await _rows(ctx)) == 9
    await service.tick()  # a repeated tick: nothing new
    assert len(await _rows(ctx)) == 9


async def test_demo_settings_issue_with_the_builtin_provider_and_are_kept(
    ctx: AppContext,
) -> None:
    account = await make_account(ctx)
    async with ctx.db.session() as session:
        await ensure_demo_settings(session, account.id, "http://127.0.0.1:8000")
        await session.commit()
        await ensure_demo_settings(session, account.id, "http://elsewhere")
        await session.commit()
    order = await _order(ctx, account)
    async with ctx.db.session() as session:
        settings = await repository.get_settings(session, account.id)
        assert settings is not None
        assert (settings.provider, settings.trigger, settings.public_base_url) == (
            "builtin",
            "off",
            "http://127.0.0.1:8000",
        )
        assert settings.vat_payer is True and settings.series == f"DEMO{account.id}"
        # what a Romanian invoice (CIUS-RO) states of the seller: a valid CUI, the trade
        # register number, the address with city and county
        assert cui.is_valid(settings.seller_cui) and settings.seller_country == "RO"
        seller = (settings.seller_name, settings.seller_reg_no, settings.seller_address)
        assert all(seller) and settings.seller_city and settings.seller_county
    assert await InvoicingService(ctx).tick() == []  # no trigger: nothing issued by the job
    invoice = await InvoicingService(ctx).request(order.id, wait=False)
    assert invoice.state == "pending"


# --- external providers --------------------------------------------------------------------------


async def _provider_account(
    ctx: AppContext, provider: str, sim: tuple[ProviderSim, str], **settings: Any
) -> EmagAccount:
    """An account invoicing through ``provider``'s simulator, with its credentials."""
    state, url = sim
    secret = (
        {"email": state.username, "secret": state.token}
        if provider == "oblio"
        else {"username": state.username, "token": state.token}
    )
    return await _account(
        ctx,
        provider=provider,
        provider_base_url=url,
        credentials_encrypted=ctx.cipher.encrypt(json.dumps(secret)),
        **settings,
    )


async def test_the_tick_issues_through_one_provider_per_account(
    ctx: AppContext, oblio: tuple[ProviderSim, str]
) -> None:
    state, _ = oblio
    account = await _provider_account(ctx, "oblio", oblio, trigger="finalized")
    orders = [await _order(ctx, account) for _ in range(3)]
    await InvoicingService(ctx).tick()
    rows = await _rows(ctx)
    assert {r.order_id for r in rows} == {o.id for o in orders}
    assert {(r.state, r.failed_step, r.attempts, r.pdf) for r in rows} == {
        ("failed", "attach", 1, PDF)
    }
    assert sorted(r.number or "" for r in rows) == ["0001", "0002", "0003"]
    assert len(state.issued) == 3


async def test_a_provider_refusal_is_a_failed_issue_in_the_audit_log(
    ctx: AppContext, oblio: tuple[ProviderSim, str]
) -> None:
    state, _ = oblio
    account = await _provider_account(ctx, "oblio", oblio, series="NOPE")
    order = await _order(ctx, account)
    refused = await InvoicingService(ctx).request(order.id)
    assert (refused.state, refused.failed_step, refused.number) == ("failed", "issue", None)
    assert refused.message is not None and refused.message.startswith("oblio: ")
    async with ctx.db.session() as session:
        (entry,) = (
            await session.execute(select(AuditLog).where(AuditLog.action == "invoicing.issue"))
        ).scalars()
    assert (entry.success, entry.status_code, entry.emag_route) == (False, 422, "oblio:invoice")
    assert entry.messages and entry.messages[0] in refused.message
    assert entry.response == {"series": None, "number": None}
    assert state.issued == []


class _NotYetFiled(list[dict[str, Any]]):
    """SmartBill's documents as its PDF endpoint sees them: one just issued is not there yet
    (its PDF is generated a moment later)."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[dict[str, Any]] = []

    def append(self, item: dict[str, Any]) -> None:
        self.pending.append(item)

    def file(self) -> None:
        self.extend(self.pending)


async def test_a_pdf_not_yet_available_is_fetched_again_without_issuing_again(
    ctx: AppContext, smartbill: tuple[ProviderSim, str]
) -> None:
    state, _ = smartbill
    state.issued = filed = _NotYetFiled()
    account = await _provider_account(ctx, "smartbill", smartbill)
    order = await _order(ctx, account)
    service = InvoicingService(ctx)
    failed = await service.request(order.id)
    assert (failed.state, failed.failed_step, failed.series, failed.number) == (
        "failed",
        "pdf",
        "MFT",
        "0001",
    )
    assert failed.message == "smartbill: PDF not available: Documentul nu exista"
    assert (failed.pdf, failed.attempts, len(filed.pending)) == (None, 1, 1)
    async with ctx.db.session() as session:
        (entry,) = (
            await session.execute(select(AuditLog).where(AuditLog.action == "invoicing.issue"))
        ).scalars()
    assert (entry.success, entry.response) == (True, {"series": "MFT", "number": "0001"})
    again = await service.request(order.id)  # still not there: the same state, nothing issued
    assert (again.failed_step, again.message, len(filed.pending)) == ("pdf", failed.message, 1)
    filed.file()
    fetched = await service.request(order.id)
    assert (fetched.number, fetched.pdf, fetched.attempts) == ("0001", PDF, 1)
    assert (fetched.failed_step, fetched.message) == ("attach", NO_URL)
    assert len(filed.pending) == 1  # nothing issued again


async def test_a_provider_silent_when_asked_what_it_issued_issues_nothing(
    ctx: AppContext, smartbill: tuple[ProviderSim, str]
) -> None:
    state, _ = smartbill
    account = await _provider_account(ctx, "smartbill", smartbill)
    order = await _order(ctx, account)
    service = InvoicingService(ctx)
    state.drop_after_issue = True  # SmartBill issues 0001, the answer is lost
    lost = await service.request(order.id)
    assert (lost.state, lost.failed_step, lost.expected_number) == ("failed", "verify", "0001")
    assert lost.message is not None and lost.message.startswith("smartbill did not answer (")
    state.drop_after_issue = False
    state.outage = True  # the retry cannot ask SmartBill what it issued
    silent = await service.request(order.id)
    assert (silent.failed_step, silent.message) == ("verify", "smartbill did not answer: HTTP 503")
    assert (silent.number, len(state.issued)) == (None, 1)
