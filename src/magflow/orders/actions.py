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
  (docs/emag-protocol.md, "AWBs and couriers").
- Every write goes through the eMAG client and is recorded in the audit log, refused or not.
- A refusal raises before anything local changes. After a successful write the order is read
  again (``order/read`` by id and type) and the local row takes what eMAG now says, customer
  aggregates included. If that re-read fails, the row takes the change MagFlow sent and the answer
  says ``refreshed: false`` (the next sync corrects anything else).

Nothing here commits: the route's unit of work does.
"""

from __future__ import annotations

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
from magflow.emag.errors import EmagError
from magflow.emag.results import SaveResult
from magflow.emag.schemas import AwbSaveResult, CourierAccount
from magflow.orders import repository, service
from magflow.orders.models import EmagOrder

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

    def awb_payload(self, order: EmagOrder, request: dict[str, Any]) -> dict[str, Any]:
        """The ``awb/save`` object for ``order`` (docs/emag-protocol.md, "AWBs and couriers")."""
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
        cod = request.get("cod")
        if cod is None:
            cod = (
                order.total_with_vat or Decimal(0)
                if order.payment_mode_id == PaymentMode.COD
                else Decimal(0)
            )
        payload: dict[str, Any] = {
            "order_id": order.emag_id,
            "sender": {k: v for k, v in (request.get("sender") or {}).items() if v is not None},
            "receiver": {k: v for k, v in receiver.items() if v not in (None, "")},
            "is_oversize": int(bool(request.get("is_oversize"))),
            "envelope_number": int(request.get("envelope_number") or 0),
            "parcel_number": int(request.get("parcel_number") or 0),
            "cod": cod,
        }
        for key in ("courier_account_id", "weight", "insured_value", "observation"):
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
        order = await self._order(order_id)
        require_seller_fulfilled(order, "issue an AWB for")
        account = await self._account(order)
        payload = self.awb_payload(order, request)
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
            # docs/emag-protocol.md, "AWBs and couriers": the first AWB moves the order to 4; the
            # re-read confirms it.
            fallback = {**order.raw, "status": int(OrderStatus.FINALIZED)}
            refreshed = await self._refresh(client, account, order, fallback)
        if saved.awb_number:
            order.awb_number = saved.awb_number
        await self.session.flush()
        return ActionResult(
            order,
            refreshed,
            extra={
                "awb_number": saved.awb_number,
                "emag_id": saved.emag_id,
                "reservation_id": saved.reservation_id,
                "courier_account_id": payload.get("courier_account_id"),
                "cod": payload["cod"],
            },
        )

    # -- attachments ---------------------------------------------------------------------------

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
    for order_id in dict.fromkeys(order_ids):
        try:
            result = await actions.acknowledge(order_id)
        except (OrderNotFoundError, ActionConflictError) as exc:
            outcomes.append(AckOutcome(order_id, ok=False, error=str(exc)))
        except EmagError as exc:
            outcomes.append(
                AckOutcome(order_id, ok=False, error=exc.summary, emag_messages=exc.messages)
            )
        else:
            outcomes.append(AckOutcome(order_id, ok=True, status=result.order.status))
            if after_each is not None:
                await after_each()
    return outcomes
