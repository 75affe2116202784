"""Orders as the API shows them, and the orders' query-string filters (shared by the listing and
the export routes, so that no route module imports another)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from magflow.accounts import service as accounts_service
from magflow.auth.models import User
from magflow.common.dates import UserDateTime, UserDateTimeEnd, in_zone, is_local
from magflow.common.deps import AccountIds, Session
from magflow.common.privacy import mask_customer_key, mask_document, mask_name, sees_personal_data
from magflow.common.schemas import DbId, Money, UtcDateTime, codes_help
from magflow.emag.codes import WRITABLE_ORDER_STATUSES, OrderStatus, OrderType
from magflow.orders import repository


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int
    emag_id: int
    order_type: int
    status: int
    payment_mode_id: int | None
    payment_mode: str | None
    delivery_mode: str | None
    order_date: UtcDateTime | None
    emag_modified_at: UtcDateTime | None
    currency: str | None
    shipping_tax: Money | None
    total_without_vat: Money | None
    total_with_vat: Money | None
    customer_key: str | None
    customer_name: str | None
    awb_number: str | None
    acknowledged_at: UtcDateTime | None


class OrderDetailOut(OrderOut):
    awb_emag_id: int | None = Field(
        default=None, description="eMAG's id of the AWB issued through MagFlow (its label)"
    )
    awb_reservation_id: int | None = None
    customer: dict[str, Any] | None
    products: list[dict[str, Any]] | None
    vouchers: list[dict[str, Any]] | None
    details: dict[str, Any] | None
    attachments: list[dict[str, Any]] | None
    reason_cancellation: dict[str, Any] | None
    status_history: list[dict[str, Any]] | None


_Order = TypeVar("_Order", bound=OrderOut)


def private_order_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A listing row of an order (:class:`OrderOut`'s fields, before their validation) as a
    viewer sees it: what :func:`private_order` masks on a validated one."""
    fields["customer_name"] = mask_name(fields["customer_name"])
    fields["customer_key"] = mask_customer_key(fields["customer_key"])
    return fields


def private_order(user: User, out: _Order) -> _Order:
    """``out`` as ``user`` may see it: viewers get the customer's name as initials, a masked
    customer key and, on the detail, a masked customer document (common/privacy.py)."""
    if sees_personal_data(user):
        return out
    out.customer_name = mask_name(out.customer_name)
    out.customer_key = mask_customer_key(out.customer_key)
    if isinstance(out, OrderDetailOut):
        out.customer = mask_document(out.customer)
    return out


class CurrencyDay(BaseModel):
    """One currency's share of a day: its orders (every status) and its revenue (cancelled and
    returned orders left out, as customer spend counts it)."""

    currency: str = Field(description='ISO currency of the orders; "?" when eMAG sent none')
    orders: int
    revenue: Money


class DailyOrdersDay(BaseModel):
    day: date = Field(description="A calendar day in the platform's time zone (see `timezone`)")
    orders: int = Field(description="Orders placed that day, every status and currency")
    currencies: list[CurrencyDay] = Field(description="Per currency, by currency code")


class DailyOrdersOut(BaseModel):
    """Orders and revenue per day over the last ``days`` days, today included, without gaps."""

    days: int
    timezone: str | None = Field(
        description=(
            "The IANA zone the days are counted in: the selected accounts' platform zone. "
            "null when they are on platforms in different zones: each order is then dated in "
            "its own account's zone and the last day is the latest platform's today."
        )
    )
    currencies: list[str] = Field(description="Every currency present, by revenue, largest first")
    items: list[DailyOrdersDay] = Field(description="One entry per day, oldest first")


# -- write-back (magflow.orders.actions_routes) --------------------------------------------------

#: The statuses ``order/save`` may set, by name (``canceled`` too, eMAG's own spelling varies).
STATUS_BY_NAME = {code.name.lower(): code for code in WRITABLE_ORDER_STATUSES} | {
    "canceled": OrderStatus.CANCELLED
}


def _status_value(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in STATUS_BY_NAME:
        return STATUS_BY_NAME[value.strip().lower()]
    return value


class StatusChange(BaseModel):
    status: Annotated[int, BeforeValidator(_status_value)] = Field(
        description=", ".join(
            f"{int(s)} / {s.label}" for s in sorted(WRITABLE_ORDER_STATUSES, reverse=True)
        )
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
    sender: AwbParty | None = Field(
        default=None,
        description=(
            "the seller's address, or its eMAG address_id, with name, contact and phone; "
            "field by field over the account's sender defaults (PATCH /api/v1/accounts/{name})"
        ),
    )
    receiver: AwbParty | None = Field(
        default=None, description="overrides of the order's shipping data"
    )
    courier_account_id: int | None = Field(
        default=None,
        description=(
            "from GET /api/v1/emag/courier-accounts (eMAG's default if absent, or the first of "
            "the order's enforced_vendor_courier_accounts)"
        ),
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
    sent: bool = Field(
        default=True,
        description="false when nothing was sent to eMAG: it already had the order at or past "
        "the asked status (`note` says why)",
    )
    note: str | None = None


class AckOut(BaseModel):
    order_id: int
    ok: bool
    status: int | None = None
    error: str | None = None
    emag_messages: list[str] = []


# -- filters ------------------------------------------------------------------------------------


async def order_filter(
    session: Session,
    account_ids: AccountIds,
    order_status: Annotated[
        list[OrderStatus] | None,
        Query(
            alias="status",
            description=f"eMAG order statuses, repeatable: {codes_help(OrderStatus)}",
        ),
    ] = None,
    order_type: Annotated[
        OrderType | None, Query(alias="type", description=codes_help(OrderType))
    ] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    date_from: UserDateTime | None = None,
    date_to: Annotated[
        UserDateTimeEnd | None, Query(description="Exclusive; a plain date includes that day.")
    ] = None,
) -> repository.OrderFilter:
    """The orders' filters from the query string (the listing's and the export's).

    A date or time without a zone is the accounts' platform time (``magflow.common.dates``);
    over accounts of several zones it is refused (AmbiguousZoneError, a 422).
    """
    if any(b is not None and is_local(b) for b in (date_from, date_to)):
        zone = await accounts_service.local_zone(session, account_ids)
        date_from = in_zone(date_from, zone) if date_from is not None else None
        date_to = in_zone(date_to, zone) if date_to is not None else None
    return repository.OrderFilter(
        account_ids=account_ids,
        status=order_status,
        order_type=order_type,
        search=search,
        date_from=date_from,
        date_to=date_to,
    )


OrderFilterQuery = Annotated[repository.OrderFilter, Depends(order_filter)]
