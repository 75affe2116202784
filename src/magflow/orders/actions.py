"""Order write-back to eMAG: acknowledge, status, AWB, attachments (docs/emag-protocol.md, "Orders",
"Attachments and invoices", "AWBs and couriers").

Rules kept here:

- Only orders stored locally (``emag_orders``) can be written through MagFlow: every action takes
  the local order id. An order is therefore acknowledged only after it has been stored.
- Orders fulfilled by eMAG (``type`` 2, FBE) are eMAG's to handle: acknowledging, changing the
  status and issuing an AWB are refused locally (:class:`FbeOrderError`, nothing sent); attaching
  documents is the one write allowed on them (docs/emag-protocol.md, "Orders", "Attachments and
  invoices"). The type is a property of each order, not of the account.
- A status change re-reads the order from eMAG first and sends that copy with only ``status``
  (and ``reason_cancellation``) changed ("send ALL the fields initially read",
  docs/emag-protocol.md, "Orders"): the stored copy may be older than what eMAG holds (a
  customer's edit, a status set in eMAG's UI) and sending it would undo that. Nothing is sent
  when eMAG is already at or past the target (:func:`status_reached`). Beyond that the status
  matrix is eMAG's to enforce: MagFlow checks only what it must send (status 0/3/4, a reason for
  a cancellation) so that a refusal carries eMAG's own message.
- ``awb/save`` takes a single object (docs/emag-protocol.md, "AWBs and couriers"): the receiver
  comes from the order's shipping data, cash on delivery is the order total (VAT included, what the
  customer pays, the SGR deposit included: docs/emag-protocol.md, "Orders") when the payment mode
  is 1 (COD), else 0. The first AWB moves the order to status 4
  (docs/emag-protocol.md, "AWBs and couriers"). The sender is the request's over the account's
  sender defaults; phones are normalised and the order's ``enforced_vendor_courier_accounts``
  checked before eMAG is asked. eMAG may answer with a ``reservation_id`` alone: the number is
  then read back with ``awb/read``; the order keeps the AWB's eMAG ids for its label
  (``awb/read_pdf``, ``awb/read_zpl``).
- Every write goes through the eMAG client and is recorded in the audit log, refused or not.
- A refusal raises before anything local changes. After a successful write the order is read
  again (``order/read`` by id and type) and the local row takes what eMAG now says, customer
  aggregates included. If that re-read fails, the row takes the change MagFlow sent and the answer
  says ``refreshed: false`` (the next sync corrects anything else).

Nothing here commits: the route's unit of work does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.audit.service import Actor, Auditor, Outcome
from magflow.common.errors import NotFoundError
from magflow.context import AppContext
from magflow.emag.client import EmagClient
from magflow.emag.codes import WRITABLE_ORDER_STATUSES, OrderStatus, OrderType, PaymentMode
from magflow.emag.coerce import to_int
from magflow.emag.errors import EmagAuthError, EmagError
from magflow.emag.phones import PhoneError, normalize_phone
from magflow.emag.results import Document, SaveResult
from magflow.emag.schemas import AwbSaveResult, CourierAccount
from magflow.orders import repository, service
from magflow.orders.models import EmagOrder

log = logging.getLogger("magflow.orders.actions")

# order/attachments/save ``type`` (docs/emag-protocol.md, "Attachments and invoices")
ATTACHMENT_TYPES = {
    "invoice": 1,
    "warranty": 3,
    "user_manual": 4,
    "user_guide": 8,
    "awb": 10,
    "proforma": 11,
}


class OrderNotFoundError(NotFoundError):
    pass


class ActionInputError(ValueError):
    """The request cannot be sent as asked (checked locally, nothing sent): HTTP 422."""


class ActionConflictError(Exception):
    """The order's state forbids the action (checked locally, nothing sent): HTTP 409."""


class FbeOrderError(ActionConflictError):
    """The order is fulfilled by eMAG (type 2): only attachments may be written to it
    (docs/emag-protocol.md, "Orders")."""

    def __init__(self, emag_id: int, action: str) -> None:
        super().__init__(
            f"order {emag_id} is fulfilled by eMAG (FBE, type 2): eMAG acknowledges it, sets its "
            f"status and issues its AWB, so MagFlow does not {action} it (only documents can be "
            "attached); nothing was sent to eMAG"
        )


def require_seller_fulfilled(order: EmagOrder, action: str) -> None:
    """Refuse ``action`` on an FBE order before anything is sent (eMAG refuses every write but
    attachments on type 2 orders: docs/emag-protocol.md, "Orders")."""
    if order.order_type == OrderType.FBE:
        raise FbeOrderError(order.emag_id, action)


#: The seller's path of an order, in the order eMAG moves it: new → in progress → prepared →
#: finalized → returned (docs/emag-protocol.md, "Orders"). Cancelled (0) is off the path.
_PATH = (
    OrderStatus.NEW,
    OrderStatus.IN_PROGRESS,
    OrderStatus.PREPARED,
    OrderStatus.FINALIZED,
    OrderStatus.RETURNED,
)


def status_reached(seen: int, current: int | None, target: int) -> str | None:
    """Why nothing should be sent to move an order to ``target``, or None to send it.

    ``current`` is the status eMAG has now (re-read just before the save), ``seen`` the stored
    one (what the user acted on). eMAG is *at or past* the target when:

    - it already has ``target`` (a cancelled order asked to cancel included);
    - ``target`` is prepared (3) or finalized (4) and eMAG is further along the seller's path
      new → in progress → prepared → finalized → returned: finalized already (an AWB issued in
      eMAG's UI sets 4) or returned (5). Sending would move it back (eMAG's matrix allows
      4 → 3 within 48 h);
    - eMAG cancelled the order (0) since MagFlow last read it (``seen`` is not 0) and
      ``target`` is 3 or 4: the customer's or eMAG's cancellation is not undone by a change
      decided on an older view. The order is stored as cancelled; asking again once MagFlow
      shows it cancelled reactivates it (eMAG allows that within 48 h).

    Anything else is sent and eMAG's matrix decides (a cancellation of a returned order, for
    one, is refused by eMAG with its own message).
    """
    if current is None:
        return None
    if current == target:
        return f"eMAG already has it {OrderStatus.label_of(current)}"
    if target in (OrderStatus.PREPARED, OrderStatus.FINALIZED):
        if current in _PATH and _PATH.index(OrderStatus(current)) > _PATH.index(
            OrderStatus(target)
        ):
            return (
                f"eMAG already has it {OrderStatus.label_of(current)}, "
                f"past {OrderStatus.label_of(target)}"
            )
        if current == OrderStatus.CANCELLED and seen != OrderStatus.CANCELLED:
            return (
                "eMAG cancelled it since MagFlow last read it; ask again to reactivate it "
                "(eMAG allows that within 48 hours)"
            )
    return None


class AwbNotFoundError(NotFoundError):
    """The order has no AWB whose label eMAG can give (none issued through MagFlow)."""


#: The sender's address fields, replaced by an ``address_id`` (docs/emag-protocol.md, "AWBs and
#: couriers").
ADDRESS_FIELDS = ("locality_id", "street", "zipcode")


def _with_phones(party: dict[str, Any], role: str, platform: str | None) -> dict[str, Any]:
    """``party`` with ``phone1``/``phone2`` as eMAG accepts them (magflow.emag.phones)."""
    out = dict(party)
    for key in ("phone1", "phone2"):
        if out.get(key) not in (None, ""):
            try:
                out[key] = normalize_phone(str(out[key]), platform)
            except PhoneError as exc:
                raise ActionInputError(f"{role}.{key}: {exc}") from None
    return out


def enforced_courier(order: EmagOrder, asked: int | None) -> int | None:
    """The courier account to send for ``order``, checked against its
    ``enforced_vendor_courier_accounts`` before eMAG is asked (docs/emag-protocol.md, "Orders"):
    null lets any courier through (``asked``, or none: eMAG's default); ``[]`` means no AWB can be
    issued from the marketplace (:class:`ActionInputError`); a list requires one of its accounts:
    ``asked`` must be in it, and with none asked the first is sent (eMAG's default might not be in
    the list). The items are read as ids or as objects with ``account_id``/``courier_account_id``/
    ``id`` (their shape is uncertain: docs/emag-protocol.md, "Uncertainties")."""
    enforced = (order.raw or {}).get("enforced_vendor_courier_accounts")
    if enforced is None:
        return asked
    items = list(enforced.values()) if isinstance(enforced, dict) else enforced
    allowed = [
        to_int(
            item.get("account_id") or item.get("courier_account_id") or item.get("id")
            if isinstance(item, dict)
            else item
        )
        for item in (items if isinstance(items, list) else [items])
    ]
    allowed_ids = [a for a in allowed if a is not None]
    if not allowed_ids:
        raise ActionInputError(
            f"eMAG does not allow an AWB from the marketplace for order {order.emag_id} "
            "(enforced_vendor_courier_accounts is empty)"
        )
    if asked is None:
        return allowed_ids[0]
    if asked not in allowed_ids:
        raise ActionInputError(
            f"order {order.emag_id} must use one of the courier accounts "
            f"{', '.join(str(a) for a in allowed_ids)} (eMAG's enforced_vendor_courier_accounts)"
        )
    return asked


async def _read_back(
    client: EmagClient, *, reservation_id: int | None
) -> tuple[str | None, int | None]:
    """``awb/read`` by ``reservation_id``: the AWB's number and ``emag_id`` (docs/emag-protocol.md,
    "AWBs and couriers"), ``(None, None)`` when eMAG has none yet or the read fails (a read: the
    AWB itself was issued)."""
    try:
        rows = await client.read_awb(reservation_id=reservation_id)
    except EmagError as exc:
        log.warning("awb/read for reservation %s failed: %s", reservation_id, exc.summary)
        return None, None
    for row in rows:
        numbers = AwbSaveResult.parse({"awb": row.get("awb") or []}, client.tz)
        emag_id = to_int(row.get("emag_id")) or numbers.emag_id
        if numbers.awb_number or emag_id:
            return numbers.awb_number, emag_id
    return None, None


@dataclass
class ActionResult:
    order: EmagOrder
    refreshed: bool
    emag_messages: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: False when nothing was sent to eMAG (``note`` says why).
    sent: bool = True
    note: str | None = None


def _save_outcome(result: SaveResult) -> Outcome:
    """``order/save`` and ``order/attachments/save`` refusals are reported per chunk."""
    messages = [m for chunk in result.chunks for m in chunk.messages]
    error = next((c.error for c in result.chunks if c.error is not None), None)
    return Outcome(
        status_code=error.status_code if error is not None else 200,
        success=result.ok,
        messages=messages,
        response=[c.raw for c in result.chunks],
        error_kind=error.kind if error is not None else None,
    )


def _ok(_result: Any) -> Outcome:
    return Outcome(status_code=200, success=True, messages=[])


class OrderActions:
    """Writes of one user on orders. ``open_client`` defaults to the context's eMAG client."""

    def __init__(self, ctx: AppContext, session: AsyncSession, actor: Actor) -> None:
        self.ctx = ctx
        self.session = session
        self.actor = actor

    # -- plumbing ----------------------------------------------------------------------------

    async def _order(self, order_id: int) -> EmagOrder:
        order = await repository.get_order(self.session, order_id)
        if order is None:
            raise OrderNotFoundError(f"no order {order_id}")
        return order

    async def _account(self, order: EmagOrder) -> EmagAccount:
        return await accounts_service.get_account(self.session, order.account_id)

    def _client(self, account: EmagAccount) -> EmagClient:
        return self.ctx.emag_client(accounts_service.credentials(self.ctx.cipher, account))

    def _auditor(self, account: EmagAccount) -> Auditor:
        return Auditor(self.ctx.db, self.actor, account_id=account.id, account_name=account.name)

    async def _refresh(
        self,
        client: EmagClient,
        account: EmagAccount,
        order: EmagOrder,
        fallback: dict[str, Any],
    ) -> bool:
        """Re-read the order from eMAG and store what it says; ``fallback`` (the payload as sent)
        when the re-read fails. Returns whether eMAG's answer was used."""
        try:
            raw = await self._read(client, order)
        except EmagError:
            raw = None
        refreshed = raw is not None
        await self._store(account, order, raw if raw is not None else fallback)
        return refreshed

    @staticmethod
    async def _read(client: EmagClient, order: EmagOrder) -> dict[str, Any] | None:
        """The order as eMAG has it now (``order/read`` by id and type; ``type`` must be given, as
        ``order/read`` defaults to 3: docs/emag-protocol.md, "Orders"), None when eMAG does not
        return it. eMAG's errors propagate."""
        rows = await client.read_rows("order", {"id": order.emag_id, "type": order.order_type})
        return next((r for r in rows if to_int(r.get("id")) == order.emag_id), None)

    async def _store(self, account: EmagAccount, order: EmagOrder, raw: dict[str, Any]) -> None:
        """Store ``raw`` as the sync does (:func:`magflow.orders.service.store_orders`: row,
        status history, customer aggregates), then reload ``order`` from the database."""
        await service.store_orders(
            self.session,
            account_id=account.id,
            platform=account.platform,
            raw_orders=[
                raw if to_int(raw.get("id")) == order.emag_id else {**raw, "id": order.emag_id}
            ],
            now=datetime.now(UTC),
        )
        await self.session.refresh(order)

    # -- acknowledge ---------------------------------------------------------------------------

    async def acknowledge(self, order_id: int) -> ActionResult:
        """``order/acknowledge/{id}`` (docs/emag-protocol.md, "Orders"): 1 → 2, only way there. eMAG
        answers an order already in 2 with success, so a repeat is harmless."""
        order = await self._order(order_id)
        require_seller_fulfilled(order, "acknowledge")
        account = await self._account(order)
        route = f"order/acknowledge/{order.emag_id}"
        async with self._client(account) as client:
            await self._auditor(account).call(
                lambda: client.acknowledge_order(order.emag_id),
                action="orders.acknowledge",
                emag_route=route,
                request=None,
                judge=_ok,
                target=f"order:{order.emag_id}",
            )
            fallback = {**order.raw, "status": max(order.status, int(OrderStatus.IN_PROGRESS))}
            refreshed = await self._refresh(client, account, order, fallback)
        order.acknowledged_at = order.acknowledged_at or datetime.now(UTC)
        await self.session.flush()
        return ActionResult(order, refreshed)

    # -- status --------------------------------------------------------------------------------

    async def change_status(
        self, order_id: int, new_status: int, reason: int | None = None
    ) -> ActionResult:
        """``order/save`` with the order as eMAG has it now and only the status changed (3, 4, or
        0 with a cancellation ``reason``, sent as ``reason_cancellation`` since 4.4.7,
        docs/emag-protocol.md, "Orders").

        The order is re-read just before the save, and that copy is sent: eMAG takes the whole
        order as sent, so the stored copy would undo what changed on eMAG since the last sync.
        When eMAG is already at or past the target (:func:`status_reached`) nothing is sent and
        the local row takes eMAG's copy (``sent`` False, ``note`` says why). A failed re-read
        fails the change: nothing is sent on a guess."""
        if new_status not in WRITABLE_ORDER_STATUSES:
            raise ActionInputError(
                "status must be 3 (prepared), 4 (finalized) or 0 (cancelled); "
                "1 → 2 is done by acknowledging"
            )
        if new_status == OrderStatus.CANCELLED and reason is None:
            raise ActionInputError("a cancellation needs a reason (eMAG reason_cancellation code)")
        order = await self._order(order_id)
        require_seller_fulfilled(order, "change the status of")
        account = await self._account(order)
        async with self._client(account) as client:
            current = await self._read(client, order)
            if current is None:
                raise ActionConflictError(
                    f"eMAG returned no order {order.emag_id} of type {order.order_type}; nothing "
                    "was sent (a sync of the orders shows what eMAG holds)"
                )
            if to_int(current.get("type")) == OrderType.FBE:
                raise FbeOrderError(order.emag_id, "change the status of")
            reached = status_reached(order.status, to_int(current.get("status")), new_status)
            if reached is not None:
                await self._store(account, order, current)
                await self.session.flush()
                return ActionResult(order, True, sent=False, note=f"nothing sent: {reached}")
            payload = dict(current)
            payload["status"] = new_status
            if new_status == OrderStatus.CANCELLED:
                payload["reason_cancellation"] = reason
            encoded = client.encode([payload])
            result = await self._auditor(account).call(
                lambda: client.save_orders([payload]),
                action="orders.status",
                emag_route="order/save",
                request={"data": encoded},
                judge=_save_outcome,
                target=f"order:{order.emag_id}",
            )
            result.raise_for_errors()
            refreshed = await self._refresh(client, account, order, payload)
        return ActionResult(order, refreshed, [m for c in result.chunks for m in c.messages])

    # -- AWB -----------------------------------------------------------------------------------

    async def courier_accounts(self, account_ref: str | int) -> list[CourierAccount]:
        account = await accounts_service.get_account(self.session, account_ref)
        async with self._client(account) as client:
            return await client.read_courier_accounts()

    def awb_payload(
        self,
        order: EmagOrder,
        request: dict[str, Any],
        *,
        platform: str | None = None,
        sender_defaults: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``awb/save`` object for ``order`` (docs/emag-protocol.md, "AWBs and couriers").

        The sender is the request's, field by field over the account's sender defaults
        (``sender_defaults``); a request that gives a full address (``locality_id`` or
        ``street``) drops a default ``address_id``, one that gives an ``address_id`` drops the
        default address fields. Phones are written as eMAG accepts them
        (:func:`magflow.emag.phones.normalize_phone`, ``platform`` for the national form);
        one that cannot be is refused here (:class:`ActionInputError`), naming the party.
        The courier account is checked against the order's
        ``enforced_vendor_courier_accounts`` (:func:`enforced_courier`)."""
        customer = order.customer or {}
        receiver = {
            "name": customer.get("shipping_contact") or customer.get("name"),
            "contact": customer.get("shipping_contact") or customer.get("name"),
            "phone1": customer.get("shipping_phone") or customer.get("phone_1"),
            "legal_entity": int(bool(to_int(customer.get("legal_entity")))),
            "locality_id": customer.get("shipping_locality_id"),
            "street": customer.get("shipping_street"),
            "zipcode": customer.get("shipping_postal_code"),
        }
        receiver.update({k: v for k, v in (request.get("receiver") or {}).items() if v is not None})
        asked = {k: v for k, v in (request.get("sender") or {}).items() if v not in (None, "")}
        sender = dict(sender_defaults or {})
        if "address_id" in asked:
            for key in ADDRESS_FIELDS:
                sender.pop(key, None)
        elif any(key in asked for key in ADDRESS_FIELDS):
            sender.pop("address_id", None)
        sender.update(asked)
        if not sender:
            raise ActionInputError(
                "no AWB sender: give one, or set the account's sender defaults "
                "(PATCH /api/v1/accounts/{name})"
            )
        cod = request.get("cod")
        if cod is None:
            cod = (
                order.total_with_vat or Decimal(0)
                if order.payment_mode_id == PaymentMode.COD
                else Decimal(0)
            )
        payload: dict[str, Any] = {
            "order_id": order.emag_id,
            "sender": _with_phones(sender, "sender", platform),
            "receiver": _with_phones(
                {k: v for k, v in receiver.items() if v not in (None, "")}, "receiver", platform
            ),
            "is_oversize": int(bool(request.get("is_oversize"))),
            "envelope_number": int(request.get("envelope_number") or 0),
            "parcel_number": int(request.get("parcel_number") or 0),
            "cod": cod,
        }
        courier = enforced_courier(order, request.get("courier_account_id"))
        if courier is not None:
            payload["courier_account_id"] = courier
        for key in ("weight", "insured_value", "observation"):
            if request.get(key) is not None:
                payload[key] = request[key]
        for key in ("pickup_and_return", "saturday_delivery", "sameday_delivery"):
            if request.get(key) is not None:
                payload[key] = int(bool(request[key]))
        locker = (order.details or {}).get("locker_id")
        if locker:
            payload["locker_id"] = locker
        return payload

    async def create_awb(self, order_id: int, request: dict[str, Any]) -> ActionResult:
        """``awb/save``, then the AWB's number: from the answer when it has one, else read back
        with ``awb/read`` by ``reservation_id`` (eMAG may answer with the reservation alone,
        docs/emag-protocol.md, "AWBs and couriers"). The order keeps the number and eMAG's ids
        (``awb_emag_id`` for the label). The read-back is a read: when it fails, the AWB stands
        (it was issued) and the answer says ``awb_number: null``; the label route reads it again.
        """
        order = await self._order(order_id)
        require_seller_fulfilled(order, "issue an AWB for")
        account = await self._account(order)
        payload = self.awb_payload(
            order, request, platform=account.platform, sender_defaults=account.awb_sender
        )
        async with self._client(account) as client:

            def judge(result: AwbSaveResult) -> Outcome:
                return Outcome(
                    status_code=200,
                    success=True,
                    messages=[],
                    response=result.model_dump(mode="json"),
                )

            saved = await self._auditor(account).call(
                lambda: client.save_awb(payload),
                action="orders.awb",
                emag_route="awb/save",
                request={"data": client.encode(payload)},
                judge=judge,
                target=f"order:{order.emag_id}",
            )
            number, emag_id = saved.awb_number, saved.emag_id
            if (number is None or emag_id is None) and saved.reservation_id is not None:
                found = await _read_back(client, reservation_id=saved.reservation_id)
                number, emag_id = number or found[0], emag_id or found[1]
            # docs/emag-protocol.md, "AWBs and couriers": the first AWB moves the order to 4; the
            # re-read confirms it.
            fallback = {**order.raw, "status": int(OrderStatus.FINALIZED)}
            refreshed = await self._refresh(client, account, order, fallback)
        if number:
            order.awb_number = number
        order.awb_emag_id = emag_id
        order.awb_reservation_id = saved.reservation_id
        await self.session.flush()
        return ActionResult(
            order,
            refreshed,
            extra={
                "awb_number": number,
                "emag_id": emag_id,
                "reservation_id": saved.reservation_id,
                "courier_account_id": payload.get("courier_account_id"),
                "cod": payload["cod"],
            },
        )

    async def awb_label(self, order_id: int, paper: str) -> Document:
        """The label of the order's AWB (``awb/read_pdf`` for A4/A5/A6, ``awb/read_zpl`` for
        ZPL, docs/emag-protocol.md, "AWBs and couriers"). Only an AWB issued through MagFlow has
        eMAG's ids: an order without one is :class:`AwbNotFoundError` (404). When only the
        reservation is known (the read-back after ``awb/save`` failed), ``awb/read`` gives the
        ``emag_id`` first, and the order keeps it and the number."""
        order = await self._order(order_id)
        if order.awb_emag_id is None and order.awb_reservation_id is None:
            raise AwbNotFoundError(f"order {order_id} has no AWB issued through MagFlow")
        account = await self._account(order)
        async with self._client(account) as client:
            if order.awb_emag_id is None:
                number, emag_id = await _read_back(client, reservation_id=order.awb_reservation_id)
                if emag_id is None:
                    raise AwbNotFoundError(
                        f"eMAG has no AWB for reservation {order.awb_reservation_id} yet"
                    )
                order.awb_emag_id = emag_id
                order.awb_number = order.awb_number or number
                await self.session.flush()
            return await client.awb_label(order.awb_emag_id, paper)

    # -- attachments ---------------------------------------------------------------------------

    async def _refuse_a_second_invoice(self, order: EmagOrder, url: str) -> None:
        """One invoice per order: once MagFlow's invoicing has asked its provider for the order's
        invoice (issuing, issued or attached), an invoice by another URL would be a second one on
        eMAG (its own PDF's URL, ``/invoices/files/<token>.pdf``, is how the invoicing attaches
        it). A failed or never-started one leaves the seller free to attach one issued
        elsewhere."""
        from magflow.invoicing import repository as invoicing_repository
        from magflow.invoicing.models import DocKind, InvoiceState

        documents = await invoicing_repository.invoices_of_order(self.session, order.id)
        if any(url.endswith(f"/invoices/files/{d.token}.pdf") for d in documents):
            return  # one of MagFlow's own documents (its invoice or credit note) being attached
        live = (InvoiceState.issuing.value, InvoiceState.issued.value, InvoiceState.attached.value)
        invoice = next(
            (d for d in documents if d.kind == DocKind.invoice.value and d.state in live), None
        )
        if invoice is not None:
            number = f"{invoice.series or ''}{invoice.number or ''}" or "without a number yet"
            raise ActionInputError(
                f"MagFlow already issued this order's invoice ({number}, {invoice.state}): "
                "one invoice per order"
            )

    async def attach(self, order_id: int, request: dict[str, Any]) -> ActionResult:
        """``order/attachments/save`` (docs/emag-protocol.md, "Attachments and invoices"): a PDF by
        URL; invoices by order, warranties by order line (``order_product_id``). Allowed on FBE
        orders too."""
        order = await self._order(order_id)
        account = await self._account(order)
        kind = request.get("type", "invoice")
        a_type = ATTACHMENT_TYPES.get(str(kind)) if not isinstance(kind, int) else kind
        if a_type is None:
            raise ActionInputError(f"unknown attachment type {kind!r}")
        if a_type == ATTACHMENT_TYPES["warranty"] and request.get("order_product_id") is None:
            raise ActionInputError("a warranty needs order_product_id (the order line id)")
        if a_type == ATTACHMENT_TYPES["invoice"]:
            await self._refuse_a_second_invoice(order, str(request.get("url") or ""))
        attachment: dict[str, Any] = {
            "order_id": order.emag_id,
            "order_type": order.order_type,
            "name": request["name"],
            "url": request["url"],
            "type": a_type,
            "force_download": int(bool(request.get("force_download"))),
        }
        if request.get("order_product_id") is not None:
            attachment["order_product_id"] = request["order_product_id"]
        async with self._client(account) as client:
            result = await self._auditor(account).call(
                lambda: client.save_order_attachments([attachment]),
                action="orders.attachment",
                emag_route="order/attachments/save",
                request={"data": client.encode([attachment])},
                judge=_save_outcome,
                target=f"order:{order.emag_id}",
            )
            result.raise_for_errors()
            known = [a for a in order.raw.get("attachments") or [] if isinstance(a, dict)]
            fallback = {
                **order.raw,
                "attachments": [a for a in known if a.get("url") != attachment["url"]]
                + [attachment],
            }
            refreshed = await self._refresh(client, account, order, fallback)
        return ActionResult(order, refreshed)


@dataclass
class AckOutcome:
    order_id: int
    ok: bool
    status: int | None = None
    error: str | None = None
    emag_messages: list[str] = field(default_factory=list)


async def acknowledge_many(
    actions: OrderActions,
    order_ids: list[int],
    after_each: Callable[[], Awaitable[None]] | None = None,
) -> list[AckOutcome]:
    """Acknowledge each order in turn; one refusal does not stop the others (each answer says
    what happened). Orders not stored locally, and FBE orders (eMAG's to acknowledge), are
    refused without calling eMAG. ``after_each`` (the caller's commit) runs after every
    acknowledged order, so that what eMAG did is kept locally even if a later order fails, and no
    write lock is held across eMAG calls."""
    outcomes = []
    refused: EmagAuthError | None = None
    for order_id in dict.fromkeys(order_ids):
        if refused is not None:
            # Credentials or the server's IP refused (docs/emag-protocol.md, "Answers and
            # errors"): every other call would fail alike, so the rest are not sent.
            outcomes.append(
                AckOutcome(
                    order_id,
                    ok=False,
                    error=f"not sent: {refused.summary}",
                    emag_messages=refused.messages,
                )
            )
            continue
        try:
            result = await actions.acknowledge(order_id)
        except (OrderNotFoundError, ActionConflictError) as exc:
            outcomes.append(AckOutcome(order_id, ok=False, error=str(exc)))
        except EmagError as exc:
            error = exc.summary if exc.hint is None else f"{exc.summary}: {exc.hint}"
            outcomes.append(AckOutcome(order_id, ok=False, error=error, emag_messages=exc.messages))
            if isinstance(exc, EmagAuthError):
                refused = exc
        else:
            outcomes.append(AckOutcome(order_id, ok=True, status=result.order.status))
            if after_each is not None:
                await after_each()
    return outcomes
