"""Issuing, attaching and reversing invoices: one document per (order, kind), whatever happens.

How "exactly once" holds (docs/invoicing-providers.md, "Exactly once"):

1. **A row first.** ``invoices (order_id, kind)`` is unique; the row is inserted (``pending``)
   before any provider is called. A repeated trigger, a retry or two operators clicking all land
   on the same row.
2. **A lease.** Work on a row happens under a lease (``claimed_by``, ``claimed_at``) taken with a
   single conditional UPDATE; a second worker finds it taken and leaves. A lease older than
   ``LEASE_SECONDS`` belongs to a worker that died and may be taken over.
3. **State before call.** Before asking an external provider to issue, the row is committed as
   ``issuing`` with what the provider needs to recognise the document (our ``reference``;
   SmartBill: the series' next number). A worker killed after the provider issued but before the
   answer was stored leaves ``issuing``: the next worker asks the provider (``find``) instead of
   issuing again; if the provider cannot tell, the row fails with a message asking a person to
   check, and MagFlow issues nothing.
4. **Built-in numbering in one transaction.** The built-in provider takes its number, renders the
   PDF and the XML and marks the row ``issued`` in one transaction: all or nothing.
5. **Attach is repeatable.** ``order/attachments/save`` with the same URL replaces the attachment
   (docs/emag-protocol.md, "Attachments and invoices"), so a worker killed after eMAG accepted
   but before ``attached`` was stored re-attaches the same URL: still one attachment.

eMAG refusing this server's IP (``ERROR: Invalid vendor ip [...]``, docs/emag-protocol.md, "Answers
and errors") lasts until the seller whitelists it: in a tick, the first attachment of each account
goes alone, and when eMAG refuses it for the IP the account's other invoices of that tick are
failed with the same message and what to do, not sent; a failed invoice waits for a person's Retry,
so the job never calls eMAG in a loop (issue 13, point 10).

Every issue, attachment and reversal is in the audit log (attachments through
``orders.actions.OrderActions.attach``, which records the eMAG call).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.audit.service import SYSTEM, Actor, Auditor, Outcome
from magflow.common.errors import NotFoundError
from magflow.context import AppContext
from magflow.emag.client import EmagClient
from magflow.emag.errors import EmagError, EmagIpNotWhitelistedError
from magflow.emag.platforms import platform_info
from magflow.invoicing import document as documents
from magflow.invoicing import render, repository
from magflow.invoicing.models import (
    DocKind,
    Invoice,
    InvoiceState,
    InvoicingSettings,
    ProviderName,
    Trigger,
)
from magflow.invoicing.providers.base import (
    Issued,
    OutcomeUnknown,
    Provider,
    ProviderRefused,
    ProviderUnavailable,
)
from magflow.invoicing.providers.factory import open_provider
from magflow.jobs.base import WORKER_ID
from magflow.orders import repository as orders_repository
from magflow.orders.actions import ATTACHMENT_TYPES, OrderActions, _save_outcome
from magflow.orders.models import EmagOrder

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0
TICK_BATCH = 500
#: Invoices moved at once by a tick: enough to keep eMAG's order bucket busy while providers
#: answer (a few hundred ms each).
TICK_CONCURRENCY = 24
FILE_PATH = "/invoices/files/{token}.pdf"


#: Why MagFlow issues no invoice for an order that already has one on eMAG.
ELSEWHERE = (
    "the order already has an invoice attached on eMAG (issued elsewhere): MagFlow issues none, "
    "one invoice per order"
)


class InvoicingError(ValueError):
    """A request that cannot be done as asked (4xx with the message)."""


class InvoiceBusyError(InvoicingError):
    """Another worker holds the invoice right now."""


class NotConfiguredError(InvoicingError):
    pass


@dataclass
class Steps:
    """Hooks between steps (tests stop a worker there)."""

    after_issue: Any = None


def reference_of(account_id: int, emag_order_id: int, kind: DocKind) -> str:
    """Our own reference, sent to the provider: one per (account, eMAG order, kind)."""
    return f"MF-{account_id}-{emag_order_id}-{'F' if kind is DocKind.invoice else 'S'}"


def public_url(settings: InvoicingSettings, token: str) -> str:
    base = (settings.public_base_url or "").rstrip("/")
    return base + FILE_PATH.format(token=token)


class InvoicingService:
    def __init__(
        self,
        ctx: AppContext,
        actor: Actor = SYSTEM,
        worker: str = WORKER_ID,
        *,
        refresh: bool = True,
    ) -> None:
        self.ctx = ctx
        self.actor = actor
        self.worker = worker
        self.refresh = refresh
        self.steps = Steps()
        # Within a tick: one provider (its HTTP client and token) and one eMAG client per account
        # for every invoice moved, closed when the tick ends (``_close_clients``).
        self._shared: dict[int, Provider] | None = None
        self._emag: dict[int, EmagClient] = {}
        # Within a tick: eMAG's IP refusal per account (the message shown), and the first
        # attachment of each account, which goes alone (``_attach_only``).
        self._refused: dict[int, str] = {}
        self._first: dict[int, asyncio.Event] = {}

    # -- requests -------------------------------------------------------------------------------

    async def request(
        self,
        order_id: int,
        kind: DocKind = DocKind.invoice,
        *,
        lines: list[dict[str, Any]] | None = None,
        wait: bool = True,
    ) -> Invoice:
        """Make sure ``order_id`` has its document of ``kind`` and move it as far as it goes
        (issue, fetch the PDF, attach). A second call finds the same row: it retries a failed
        step, or answers the current state when another worker holds it."""
        async with self.ctx.db.session() as session:
            order = await orders_repository.get_order(session, order_id)
            if order is None:
                raise NotFoundError(f"no order {order_id}")
            settings = await repository.get_settings(session, order.account_id)
            if settings is None:
                raise NotConfiguredError(
                    "invoicing is not configured for this account (PUT /api/v1/invoicing/settings)"
                )
            if kind is DocKind.credit_note:
                original = await repository.invoice_of(session, order_id, DocKind.invoice)
                if original is None or original.number is None:
                    raise InvoicingError("the order has no issued invoice to reverse")
            existing = await repository.invoice_of(session, order_id, kind)
            if existing is None and kind is DocKind.invoice and order.has_invoice:
                raise InvoicingError(ELSEWHERE)
            if existing is None:
                await repository.claim_row(session, self._row(order, settings, kind, lines))
                await session.commit()
            invoice = await repository.invoice_of(session, order_id, kind)
            assert invoice is not None
            invoice_id = invoice.id
        if wait:
            await self.process(invoice_id)
        return await self.get(invoice_id)

    def _row(
        self,
        order: EmagOrder,
        settings: InvoicingSettings,
        kind: DocKind,
        lines: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "account_id": order.account_id,
            "order_id": order.id,
            "kind": kind.value,
            "provider": settings.provider,
            "state": InvoiceState.pending.value,
            "reference": reference_of(order.account_id, order.emag_id, kind),
            "token": secrets.token_urlsafe(32),
            # Lines asked for (a partial storno); the document is built at the first attempt.
            "document": {"requested_lines": lines} if lines else None,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }

    async def get(self, invoice_id: int) -> Invoice:
        async with self.ctx.db.session() as session:
            invoice = await repository.get_invoice(session, invoice_id)
            if invoice is None:
                raise NotFoundError(f"no invoice {invoice_id}")
            return invoice

    # -- the work -------------------------------------------------------------------------------

    async def process(self, invoice_id: int) -> str:
        """Move one invoice on under the lease. Returns its state afterwards (or ``busy``)."""
        now = datetime.now(UTC)
        async with self.ctx.db.session() as session:
            taken = await repository.take(
                session, invoice_id, self.worker, now, now - timedelta(seconds=LEASE_SECONDS)
            )
            await session.commit()
        if not taken:
            return "busy"
        try:
            return await self._advance(invoice_id)
        finally:
            async with self.ctx.db.session() as session:
                await repository.release(session, invoice_id, self.worker)
                await session.commit()

    async def _load(
        self, session: AsyncSession, invoice_id: int
    ) -> tuple[Invoice, EmagOrder, InvoicingSettings]:
        invoice = await repository.get_invoice(session, invoice_id)
        if invoice is None:
            raise NotFoundError(f"no invoice {invoice_id}")
        order = await orders_repository.get_order(session, invoice.order_id)
        settings = await repository.get_settings(session, invoice.account_id)
        if order is None or settings is None:
            raise NotFoundError(f"invoice {invoice_id}: order or settings gone")
        return invoice, order, settings

    async def _fail(self, invoice_id: int, step: str, message: str) -> str:
        async with self.ctx.db.session() as session:
            invoice = await repository.get_invoice(session, invoice_id)
            assert invoice is not None
            invoice.state = InvoiceState.failed.value
            invoice.failed_step = step
            invoice.message = message[:2000]
            await session.commit()
        return InvoiceState.failed.value

    async def _advance(self, invoice_id: int) -> str:
        async with self.ctx.db.session() as session:
            invoice, order, settings = await self._load(session, invoice_id)
            state, step = invoice.state, invoice.failed_step
            if state == InvoiceState.attached.value:
                return state
            if _issued_elsewhere(invoice, order):
                await session.rollback()
                return await self._fail(invoice_id, "issue", ELSEWHERE)
            # 1. the document (kept once built: every attempt sends the same one)
            if invoice.document is None or "lines" not in invoice.document:
                try:
                    built = await self._document(session, invoice, order, settings)
                except documents.DocumentError as exc:
                    await session.rollback()
                    return await self._fail(invoice_id, "document", str(exc))
                invoice.document = built
                invoice.currency = built["currency"]
                invoice.total = Decimal(built["totals"]["gross"])
                if state == InvoiceState.failed.value and step == "document":
                    invoice.state, invoice.failed_step, invoice.message = "pending", None, None
                await session.commit()
                state, step = invoice.state, invoice.failed_step
        issued_states = (InvoiceState.issued.value,)
        needs_issue = not (
            state in issued_states or (state == "failed" and step in ("pdf", "attach"))
        )
        if needs_issue:
            state = await self._issue(invoice_id)
            if state != InvoiceState.issued.value:
                return state
            if self.steps.after_issue is not None:
                await self.steps.after_issue(invoice_id)
        return await self._attach(invoice_id)

    async def _document(
        self,
        session: AsyncSession,
        invoice: Invoice,
        order: EmagOrder,
        settings: InvoicingSettings,
    ) -> dict[str, Any]:
        account = await accounts_service.get_account(session, order.account_id)
        tz = ZoneInfo(platform_info(account.platform).timezone)
        today = datetime.now(tz).date()
        kind = DocKind(invoice.kind)
        requested = (invoice.document or {}).get("requested_lines")
        reverses = None
        lines = None
        if kind is DocKind.credit_note:
            original = await repository.invoice_of(session, order.id, DocKind.invoice)
            if original is None or original.number is None or not original.document:
                raise documents.DocumentError("the order has no issued invoice to reverse")
            reverses = {
                "series": original.series,
                "number": original.number,
                "issue_date": original.document["issue_date"],
            }
            invoiced = original.document["lines"]
            if requested:
                lines = _pick(invoiced, requested)
            else:
                lines = documents.reversed_lines(
                    invoiced, order.raw or {}, full=order.status in (0, 5)
                )
            if not lines:
                raise documents.DocumentError("nothing to reverse: the order holds every line")
        built = documents.build(
            order,
            settings,
            platform=account.platform,
            kind=kind,
            reference=invoice.reference,
            today=today,
            reverses=reverses,
            lines=lines,
        )
        if kind is DocKind.credit_note:
            built["full"] = not requested and order.status in (0, 5)
        return built

    async def _issue(self, invoice_id: int) -> str:
        async with self.ctx.db.session() as session:
            invoice, _order, settings = await self._load(session, invoice_id)
            if settings.provider == ProviderName.builtin.value:
                return await self._issue_builtin(session, invoice, settings)
        provider = self._provider(settings)
        try:
            return await self._issue_external(invoice_id, provider)
        finally:
            if self._shared is None:
                await provider.aclose()

    def _provider(self, settings: InvoicingSettings) -> Provider:
        if self._shared is None:
            return open_provider(settings, self.ctx.cipher)
        found = self._shared.get(settings.account_id)
        if found is None:
            found = self._shared[settings.account_id] = open_provider(settings, self.ctx.cipher)
        return found

    async def _close_clients(self) -> None:
        for provider in (self._shared or {}).values():
            await provider.aclose()
        for client in self._emag.values():
            await client.aclose()
        self._shared = None
        self._emag = {}

    async def _issue_builtin(
        self, session: AsyncSession, invoice: Invoice, settings: InvoicingSettings
    ) -> str:
        """Number, files and state in one transaction (all or nothing)."""
        document = dict(invoice.document or {})
        series = (
            settings.credit_series or settings.series
            if invoice.kind == DocKind.credit_note.value
            else settings.series
        )
        number = f"{await repository.next_number(session, invoice.account_id, series):06d}"
        invoice.series, invoice.number = series, number
        invoice.pdf = await asyncio.to_thread(render.pdf, document, series, number)
        invoice.xml = render.ubl(document, series, number)
        self._mark_issued(invoice)
        await session.commit()
        await self._audit_issue(invoice, success=True, messages=[])
        return invoice.state

    def _mark_issued(self, invoice: Invoice) -> None:
        invoice.state = InvoiceState.issued.value
        invoice.failed_step = None
        invoice.message = None
        invoice.issued_at = datetime.now(UTC)
        invoice.attempts += 1

    async def _issue_external(self, invoice_id: int, provider: Provider) -> str:
        async with self.ctx.db.session() as session:
            invoice = await repository.get_invoice(session, invoice_id)
            assert invoice is not None
            document = dict(invoice.document or {})
            unsure = invoice.state == InvoiceState.issuing.value or (
                invoice.state == InvoiceState.failed.value and invoice.failed_step == "verify"
            )
            expected = invoice.expected_number
        found: Issued | None = None
        if unsure:
            # An earlier attempt may have issued it: ask before issuing again.
            try:
                found = await provider.find(document, expected)
            except OutcomeUnknown as exc:
                return await self._fail(invoice_id, "verify", exc.message)
            except ProviderUnavailable as exc:
                return await self._fail(
                    invoice_id, "verify", f"{provider.name} did not answer: {exc.message}"
                )
        if found is None:
            try:
                prepared = await provider.prepare(document)
            except (ProviderRefused, ProviderUnavailable) as exc:
                return await self._fail(invoice_id, "issue", f"{provider.name}: {exc.message}")
            async with self.ctx.db.session() as session:
                invoice = await repository.get_invoice(session, invoice_id)
                assert invoice is not None
                invoice.state = InvoiceState.issuing.value
                invoice.expected_number = prepared
                invoice.attempts += 1
                await session.commit()
            try:
                found = await provider.issue(document)
            except ProviderRefused as exc:
                async with self.ctx.db.session() as session:
                    invoice = await repository.get_invoice(session, invoice_id)
                    assert invoice is not None
                await self._audit_issue(invoice, success=False, messages=[exc.message])
                return await self._fail(invoice_id, "issue", f"{provider.name}: {exc.message}")
            except ProviderUnavailable as exc:
                return await self._fail(
                    invoice_id,
                    "verify",
                    f"{provider.name} did not answer ({exc.message}); MagFlow checks whether "
                    "the document exists before issuing again",
                )
        try:
            pdf = await provider.pdf(found, document["kind"])
        except (ProviderRefused, ProviderUnavailable) as exc:
            pdf = None
            pdf_error = f"{provider.name}: PDF not available: {exc.message}"
        async with self.ctx.db.session() as session:
            invoice = await repository.get_invoice(session, invoice_id)
            assert invoice is not None
            invoice.series, invoice.number = found.series, found.number
            self._mark_issued(invoice)
            invoice.attempts -= 1  # counted when the attempt started
            invoice.pdf = pdf
            await session.commit()
        await self._audit_issue(invoice, success=True, messages=[])
        if pdf is None:
            return await self._fail(invoice_id, "pdf", pdf_error)
        return InvoiceState.issued.value

    async def _fetch_pdf(self, invoice_id: int) -> bool:
        async with self.ctx.db.session() as session:
            invoice, _order, settings = await self._load(session, invoice_id)
            if invoice.pdf is not None:
                return True
            issued = Issued(series=invoice.series or "", number=invoice.number or "")
            kind = invoice.kind
        provider = self._provider(settings)
        try:
            pdf = await provider.pdf(issued, kind)
        except (ProviderRefused, ProviderUnavailable) as exc:
            message = f"{provider.name}: PDF not available: {exc.message}"
            await self._fail(invoice_id, "pdf", message)
            return False
        finally:
            if self._shared is None:
                await provider.aclose()
        async with self.ctx.db.session() as session:
            row = await repository.get_invoice(session, invoice_id)
            assert row is not None
            row.pdf = pdf
            await session.commit()
        return True

    async def _attach(self, invoice_id: int) -> str:
        """Attach through ``OrderActions.attach`` (audited; the order is read again afterwards,
        so the operator sees eMAG's own view), or, for the job (``self.refresh`` false), with the
        one ``order/attachments/save`` call alone: the re-read would be a second request in the
        same order bucket (12 requests/s, docs/emag-protocol.md, "Rate and size limits") and
        halve the attachment rate; the next order sync brings eMAG's view instead."""
        if not await self._fetch_pdf(invoice_id):
            return InvoiceState.failed.value
        async with self.ctx.db.session() as session:
            invoice, order, settings = await self._load(session, invoice_id)
            if not settings.public_base_url:
                return await self._fail(
                    invoice_id,
                    "attach",
                    "no public_base_url in the invoicing settings: eMAG needs an address to "
                    "download the PDF from",
                )
            label = "Factura" if invoice.kind == DocKind.invoice.value else "Factura storno"
            request = {
                "type": "invoice",
                "name": f"{label} {invoice.series}{invoice.number}"[:60],
                "url": public_url(settings, invoice.token),
            }
            if self.refresh:
                try:
                    await OrderActions(self.ctx, session, self.actor).attach(order.id, request)
                except EmagError as exc:
                    await session.rollback()
                    return await self._fail(invoice_id, "attach", _emag_message(exc))
                await self._mark_attached(session, invoice_id)
                return InvoiceState.attached.value
            account = await accounts_service.get_account(session, order.account_id)
            attachment = {
                "order_id": order.emag_id,
                "order_type": order.order_type,
                "name": request["name"],
                "url": request["url"],
                "type": ATTACHMENT_TYPES["invoice"],
                "force_download": 0,
            }
            order_id = order.id
        # No database connection is held while eMAG answers (the job runs many at once).
        first = self._first.get(account.id)
        if first is None:
            first = self._first[account.id] = asyncio.Event()
        else:
            await first.wait()
        try:
            if account.id in self._refused:
                return await self._fail(
                    invoice_id, "attach", "not sent: " + self._refused[account.id]
                )
            await self._attach_only(account, attachment)
        except EmagIpNotWhitelistedError as exc:
            self._refused[account.id] = _emag_message(exc)
            return await self._fail(invoice_id, "attach", _emag_message(exc))
        except EmagError as exc:
            return await self._fail(invoice_id, "attach", _emag_message(exc))
        finally:
            first.set()
        async with self.ctx.db.session() as session:
            stored = await orders_repository.get_order(session, order_id)
            if stored is not None:  # the local copy takes what was sent; the next sync, eMAG's
                known = [
                    a
                    for a in stored.attachments or []
                    if isinstance(a, dict) and a.get("url") != attachment["url"]
                ]
                stored.attachments = [*known, {**attachment, "visibility": 1}]
                stored.has_invoice = True  # off the to-do list and the queue at once
            await self._mark_attached(session, invoice_id)
        return InvoiceState.attached.value

    async def _mark_attached(self, session: AsyncSession, invoice_id: int) -> None:
        row = await repository.get_invoice(session, invoice_id)
        assert row is not None
        row.state = InvoiceState.attached.value
        row.failed_step = None
        row.message = None
        row.attached_at = datetime.now(UTC)
        await session.commit()

    async def _attach_only(self, account: EmagAccount, attachment: dict[str, Any]) -> None:
        """``order/attachments/save`` for one invoice, audited like ``OrderActions.attach``."""
        auditor = Auditor(self.ctx.db, self.actor, account_id=account.id, account_name=account.name)
        client = self._emag.get(account.id)
        if client is None:
            credentials = accounts_service.credentials(self.ctx.cipher, account)
            client = self._emag[account.id] = self.ctx.emag_client(credentials)
        result = await auditor.call(
            lambda: client.save_order_attachments([attachment]),
            action="orders.attachment",
            emag_route="order/attachments/save",
            request={"data": client.encode([attachment])},
            judge=_save_outcome,
            target=f"order:{attachment['order_id']}",
        )
        result.raise_for_errors()

    async def _audit_issue(self, invoice: Invoice, *, success: bool, messages: list[str]) -> None:
        action = "invoicing.issue" if invoice.kind == DocKind.invoice.value else "invoicing.reverse"
        document = invoice.document or {}
        await Auditor(self.ctx.db, self.actor, account_id=invoice.account_id).record(
            action=action,
            emag_route=f"{invoice.provider}:{invoice.kind}",
            request={"reference": invoice.reference, "totals": document.get("totals")},
            outcome=Outcome(
                status_code=200 if success else 422,
                success=success,
                messages=messages,
                response={"series": invoice.series, "number": invoice.number},
            ),
            target=f"order:{document.get('order_id')}",
        )

    # -- the job -------------------------------------------------------------------------------

    async def tick(self) -> list[int]:
        """What the job timer does: create the rows the triggers call for (invoices of orders
        that reached the trigger, credit notes of invoiced orders cancelled, returned or
        stornoed since), then move every workable row on. Returns the ids moved."""
        async with self.ctx.db.session() as session:
            for settings in await repository.triggered_settings(session):
                trigger = Trigger(settings.trigger)
                for order in await repository.orders_to_invoice(
                    session, settings.account_id, trigger, TICK_BATCH
                ):
                    await repository.claim_row(
                        session, self._row(order, settings, DocKind.invoice, None)
                    )
                for order, invoice in await repository.orders_to_reverse(
                    session, settings.account_id, TICK_BATCH
                ):
                    if order.status in (0, 5) or documents.reversed_lines(
                        (invoice.document or {}).get("lines", []), order.raw or {}, full=False
                    ):
                        await repository.claim_row(
                            session, self._row(order, settings, DocKind.credit_note, None)
                        )
            await session.commit()
            stale = datetime.now(UTC) - timedelta(seconds=LEASE_SECONDS)
            ids = await repository.workable(session, stale, TICK_BATCH * 5)
        # At most one database connection per invoice at a time: stay within the pool.
        pool = self.ctx.settings.db_pool_size + self.ctx.settings.db_max_overflow
        slots = asyncio.Semaphore(max(1, min(TICK_CONCURRENCY, pool - 2)))

        lean = InvoicingService(self.ctx, self.actor, self.worker, refresh=False)
        lean.steps = self.steps
        lean._shared = {}

        async def one(invoice_id: int) -> None:
            async with slots:
                try:
                    await lean.process(invoice_id)
                except Exception:
                    log.exception("invoice %s: step failed", invoice_id)

        try:
            await asyncio.gather(*(one(i) for i in ids))
        finally:
            await lean._close_clients()
        return ids


def _issued_elsewhere(invoice: Invoice, order: EmagOrder) -> bool:
    """An invoice not issued yet (nothing asked of a provider, or asked and refused) for an
    order that meanwhile got an invoice on eMAG from elsewhere (attached by URL): MagFlow must
    not issue a second one. A row left ``issuing`` (or failed at ``verify``) is not concerned:
    the provider may have issued, and the next attempt finds out first."""
    unissued = invoice.state == InvoiceState.pending.value or (
        invoice.state == InvoiceState.failed.value and invoice.failed_step in ("document", "issue")
    )
    return (
        invoice.kind == DocKind.invoice.value
        and invoice.number is None
        and unissued
        and bool(order.has_invoice)
    )


def _emag_message(exc: EmagError) -> str:
    """eMAG's own message, and what to do when it says (e.g. the IP to whitelist)."""
    message = "eMAG: " + ("; ".join(exc.messages) if exc.messages else exc.summary)
    return f"{message} ({exc.hint})" if exc.hint else message


def _pick(invoiced: list[dict[str, Any]], requested: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A partial storno asked for by line: ``[{index, quantity}]`` over the invoice's lines."""
    out = []
    for item in requested:
        index = int(item["index"])
        if not 0 <= index < len(invoiced):
            raise documents.DocumentError(f"the invoice has no line {index}")
        line = invoiced[index]
        quantity = Decimal(str(item["quantity"]))
        if quantity <= 0 or quantity > Decimal(line["quantity"]):
            raise documents.DocumentError(
                f"line {index}: quantity must be above 0 and at most {line['quantity']}"
            )
        out.append({**line, "quantity": str(quantity.normalize())})
    return out


async def ensure_demo_settings(session: AsyncSession, account_id: int, public_url: str) -> None:
    """The demo's invoicing: the built-in provider, its own series, no trigger (an operator
    issues from the order page or the invoices page). Kept when already set. No commit."""
    if await repository.get_settings(session, account_id) is not None:
        return
    session.add(
        InvoicingSettings(
            account_id=account_id,
            provider=ProviderName.builtin.value,
            trigger=Trigger.off.value,
            series=f"DEMO{account_id}",
            seller_name="MagFlow Demo SRL",
            seller_cui="RO18547290",
            seller_reg_no="J40/1234/2020",
            seller_address="Str. Știrbei Vodă nr. 1",
            seller_city="București",
            seller_county="Sector 1",
            seller_country="RO",
            vat_payer=True,
            public_base_url=public_url,
        )
    )


def today_in(platform: str) -> date:
    return datetime.now(ZoneInfo(platform_info(platform).timezone)).date()
