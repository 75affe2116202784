"""Order write-back routes (``/api/v1/emag/orders/...``), courier accounts and eMAG errors.

eMAG's refusals (``isError`` or a 4xx) answer 422 with eMAG's own messages; failures to reach
eMAG (auth, rate limit, 5xx, timeouts) answer 502. Nothing is changed locally in either case.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, BeforeValidator, Field, field_validator

from magflow.accounts import service as accounts_service
from magflow.audit.service import Actor
from magflow.auth.dependencies import CurrentUser, Operator
from magflow.common.deps import Context, Session
from magflow.common.listing import invalidate_totals
from magflow.common.schemas import DbId, IdPath
from magflow.emag.errors import EmagError, EmagTransientError, EmagValidationError
from magflow.orders.actions import (
    ActionInputError,
    ActionResult,
    OrderActions,
    OrderNotFoundError,
    acknowledge_many,
)
from magflow.orders.schemas import OrderDetailOut

UNPROCESSABLE = 422  # Starlette renamed the constant; the code is what matters

router = APIRouter(prefix="/api/v1/emag", tags=["order actions"])

STATUS_NAMES = {"cancelled": 0, "canceled": 0, "prepared": 3, "finalized": 4}


def emag_http_error(exc: EmagError) -> HTTPException:
    """An HTTP error carrying eMAG's own messages."""
    detail: dict[str, Any] = {
        "message": str(exc),
        "emag_route": exc.route,
        "emag_status": exc.status_code,
        "emag_messages": exc.messages,
        "kind": exc.kind,
    }
    if isinstance(exc, EmagValidationError):
        return HTTPException(UNPROCESSABLE, detail=detail)
    if isinstance(exc, EmagTransientError) and exc.maybe_processed:
        detail["hint"] = "eMAG may have processed the request; re-read before trying again"
    return HTTPException(status.HTTP_502_BAD_GATEWAY, detail=detail)


def _status_value(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in STATUS_NAMES:
        return STATUS_NAMES[value.strip().lower()]
    return value


class StatusChange(BaseModel):
    status: Annotated[int, BeforeValidator(_status_value)] = Field(
        description="3 / prepared, 4 / finalized, 0 / cancelled"
    )
    reason: int | None = Field(
        default=None, description="eMAG cancellation reason code (required to cancel)"
    )


class AckMany(BaseModel):
    ids: list[DbId] = Field(min_length=1, max_length=500, description="local order ids")


class AwbParty(BaseModel):
    name: str | None = None
    contact: str | None = None
    phone1: str | None = None
    phone2: str | None = None
    legal_entity: int | None = None
    locality_id: int | None = None
    street: str | None = None
    zipcode: str | None = None
    address_id: str | None = None


class AwbCreate(BaseModel):
    sender: AwbParty = Field(description="the seller's address, or its eMAG address_id")
    receiver: AwbParty | None = Field(
        default=None, description="overrides of the order's shipping data"
    )
    courier_account_id: int | None = Field(
        default=None,
        description="from GET /api/v1/emag/courier-accounts (eMAG's default if absent)",
    )
    parcel_number: int = Field(default=1, ge=0, le=999)
    envelope_number: int = Field(default=0, ge=0, le=9999)
    weight: Decimal | None = Field(default=None, gt=0)
    is_oversize: bool = False
    insured_value: Decimal | None = Field(default=None, ge=0)
    cod: Decimal | None = Field(
        default=None, ge=0, description="default: the order total for COD orders, else 0"
    )
    observation: str | None = Field(default=None, max_length=255)
    pickup_and_return: bool | None = None
    saturday_delivery: bool | None = None
    sameday_delivery: bool | None = None


class AttachmentCreate(BaseModel):
    url: str = Field(
        min_length=1,
        max_length=1024,
        description="an https URL of a PDF",
        json_schema_extra={"format": "uri"},
    )
    name: str = Field(min_length=1, max_length=60)
    type: Literal["invoice", "warranty", "user_manual", "user_guide", "awb", "proforma"] | int = (
        "invoice"
    )
    order_product_id: int | None = Field(default=None, description="order line id (warranties)")
    force_download: bool = False

    @field_validator("url")
    @classmethod
    def _https_only(cls, url: str) -> str:
        """eMAG hands the URL to the customer: only https with a host is forwarded (no
        ``javascript:``, ``file:``, ``data:`` or plain-http links in the customer's order)."""
        parts = urlsplit(url.strip())
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise ValueError("the attachment URL must be an https:// URL with a host")
        return url.strip()


class ActionOut(BaseModel):
    order: OrderDetailOut
    refreshed: bool = Field(description="the local row was re-read from eMAG after the write")
    emag_messages: list[str] = []
    awb: dict[str, Any] | None = None


class AckOut(BaseModel):
    order_id: int
    ok: bool
    status: int | None = None
    error: str | None = None
    emag_messages: list[str] = []


def _out(result: ActionResult, awb: bool = False) -> ActionOut:
    return ActionOut(
        order=OrderDetailOut.model_validate(result.order),
        refreshed=result.refreshed,
        emag_messages=result.emag_messages,
        awb=result.extra if awb else None,
    )


async def _run(session: Session, coro: Any, ctx: Context | None = None) -> Any:
    """Await an action, map its errors to HTTP, commit; with ``ctx``, the action may have changed
    an order's status, so cached listing totals are forgotten."""
    try:
        result = await coro
    except OrderNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except ActionInputError as exc:
        raise HTTPException(UNPROCESSABLE, detail=str(exc)) from exc
    except accounts_service.AccountNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except EmagError as exc:
        raise emag_http_error(exc) from exc
    await session.commit()
    if ctx is not None:
        await invalidate_totals(ctx.cache)
    return result


@router.post("/orders/acknowledge", response_model=list[AckOut])
async def acknowledge_orders(ctx: Context, session: Session, user: Operator, body: AckMany) -> Any:
    """Acknowledge several stored orders (1 → 2); one answer per id."""
    outcomes = await acknowledge_many(
        OrderActions(ctx, session, Actor.of(user)), body.ids, after_each=session.commit
    )
    await session.commit()
    await invalidate_totals(ctx.cache)
    return [AckOut(**o.__dict__) for o in outcomes]


@router.post("/orders/{order_id}/acknowledge", response_model=ActionOut)
async def acknowledge_order(
    ctx: Context, session: Session, user: Operator, order_id: IdPath
) -> Any:
    """Acknowledge a stored order (``order/acknowledge``, 1 → 2)."""
    actions = OrderActions(ctx, session, Actor.of(user))
    return _out(await _run(session, actions.acknowledge(order_id), ctx))


@router.post("/orders/{order_id}/status", response_model=ActionOut)
async def change_order_status(
    ctx: Context, session: Session, user: Operator, order_id: IdPath, body: StatusChange
) -> Any:
    """Change the status with ``order/save`` (the whole order as read, status changed)."""
    actions = OrderActions(ctx, session, Actor.of(user))
    return _out(await _run(session, actions.change_status(order_id, body.status, body.reason), ctx))


@router.post("/orders/{order_id}/awb", response_model=ActionOut)
async def create_order_awb(
    ctx: Context, session: Session, user: Operator, order_id: IdPath, body: AwbCreate
) -> Any:
    """Issue an AWB (``awb/save``); the order becomes finalized (4) and keeps the AWB number."""
    actions = OrderActions(ctx, session, Actor.of(user))
    request = body.model_dump(exclude_none=True)
    return _out(await _run(session, actions.create_awb(order_id, request), ctx), awb=True)


@router.post("/orders/{order_id}/attachments", response_model=ActionOut)
async def add_order_attachment(
    ctx: Context, session: Session, user: Operator, order_id: IdPath, body: AttachmentCreate
) -> Any:
    """Attach an invoice, warranty... by PDF URL (``order/attachments/save``)."""
    actions = OrderActions(ctx, session, Actor.of(user))
    return _out(await _run(session, actions.attach(order_id, body.model_dump())))


@router.get("/courier-accounts")
async def courier_accounts(
    ctx: Context,
    session: Session,
    user: CurrentUser,
    account: Annotated[str, Query(description="account name or id")],
) -> list[dict[str, Any]]:
    """The account's courier accounts (``courier_accounts/read``), to choose one for an AWB."""
    actions = OrderActions(ctx, session, Actor.of(user))
    found = await _run(session, actions.courier_accounts(account))
    return [c.model_dump(mode="json") for c in found]
