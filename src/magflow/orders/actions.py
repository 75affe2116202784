"""Order write-back to eMAG: acknowledge, status, AWB, attachments (docs/emag-protocol.md, "Orders",
"Attachments and invoices", "AWBs and couriers").

Rules kept here:

- Only orders stored locally (``emag_orders``) can be written through MagFlow: every action takes
  the local order id. An order is therefore acknowledged only after it has been stored.
- ``order/save`` sends the whole order as last read (the stored ``raw`` payload) with the status
  changed ("send ALL the fields initially read", docs/emag-protocol.md, "Orders"). The status matrix
  is eMAG's to enforce: MagFlow checks only what it must send (status 0/3/4, a reason for a
  cancellation) so that a refusal carries eMAG's own message.
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
from magflow.emag.codes import WRITABLE_ORDER_STATUSES, OrderStatus, PaymentMode
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
    """The request cannot be sent as asked (checked locally, nothing sent)."""


@dataclass
class ActionResult:
    order: EmagOrder
    refreshed: bool
    emag_messages: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


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
        raw: dict[str, Any] | None = None
        try:
            rows = await client.read_rows("order", {"id": order.emag_id, "type": order.order_type})
            raw = next((r for r in rows if to_int(r.get("id")) == order.emag_id), None)
        except EmagError:
            raw = None
        refreshed = raw is not None
        await self._store(account, order, raw if raw is not None else fallback)
        return refreshed

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
        """``order/save`` with the whole stored order and the new status (3, 4, or 0 with a
        cancellation ``reason``, sent as ``reason_cancellation`` since 4.4.7,
        docs/emag-protocol.md, "Orders")."""
        if new_status not in WRITABLE_ORDER_STATUSES:
            raise ActionInputError(
                "status must be 3 (prepared), 4 (finalized) or 0 (cancelled); "
                "1 → 2 is done by acknowledging"
            )
        if new_status == OrderStatus.CANCELLED and reason is None:
            raise ActionInputError("a cancellation needs a reason (eMAG reason_cancellation code)")
        order = await self._order(order_id)
        account = await self._account(order)
        payload = dict(order.raw)
        payload["status"] = new_status
        if new_status == OrderStatus.CANCELLED:
            payload["reason_cancellation"] = reason
        async with self._client(account) as client:
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
    what happened). Orders not stored locally are refused without calling eMAG. ``after_each``
    (the caller's commit) runs after every acknowledged order, so that what eMAG did is kept
    locally even if a later order fails, and no write lock is held across eMAG calls."""
    outcomes = []
    for order_id in dict.fromkeys(order_ids):
        try:
            result = await actions.acknowledge(order_id)
        except OrderNotFoundError as exc:
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
