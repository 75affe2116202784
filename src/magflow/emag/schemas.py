"""Typed, tolerant models of eMAG payloads (EMAG_API.md §5, gotcha 16).

Tolerance rules, applied to every model:

- numbers may arrive as strings (``"sale_price": "967.6613"``, ``"quantity": "1"``); ints, decimals
  and booleans (0/1, "0"/"1", true/false) are coerced; empty strings become None;
- empty dict-like fields may arrive as ``[]`` (``details: []``, RMA ``locker``): an empty list where
  an object is expected is read as an empty object;
- ``null`` is accepted everywhere a field is optional, and lists default to ``[]``;
- dates ``YYYY-mm-dd HH:ii:ss`` are platform-local (§4, UNCERTAIN; see :mod:`.dates`) and become
  aware datetimes. Pass the platform tz as ``context={"tz": ZoneInfo(...)}`` to ``model_validate``
  (the client does; the default is Europe/Bucharest);
- unknown fields are kept (``extra="allow"``) and every model keeps the dict it was parsed from in
  ``.raw``, because the sync engine stores raw payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from magflow.emag.dates import DEFAULT_TZ, format_emag_datetime, parse_emag_datetime

__all__ = [
    "Attachment",
    "Awb",
    "AwbCourier",
    "AwbNumber",
    "AwbSaveResult",
    "AwbStatus",
    "CancellationReason",
    "Category",
    "CategoryCharacteristic",
    "CountResult",
    "CourierAccount",
    "Customer",
    "EanProduct",
    "EmagModel",
    "FamilyType",
    "HandlingTime",
    "Locality",
    "Offer",
    "OfferItemResult",
    "Order",
    "OrderDetails",
    "OrderProduct",
    "Rma",
    "RmaProduct",
    "ValidationStatus",
    "Vat",
    "Voucher",
    "WarehouseValue",
    "format_emag_datetime",
    "parse_emag_datetime",
]

# --- lenient scalar types ------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _to_int(value: Any) -> Any:
    if _blank(value) or value == {}:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = Decimal(text)
            except InvalidOperation:
                return value  # let pydantic report it
            if number == number.to_integral_value():
                return int(number)
            return value
    return value


def _to_decimal(value: Any) -> Any:
    if _blank(value) or value == {}:
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        return value.strip()
    return value


def _to_str(value: Any) -> Any:
    if value is None or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float | Decimal):
        return str(value)
    return value


def _to_bool(value: Any) -> Any:
    if _blank(value) or value == {}:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"1", "true", "yes"}:
            return True
        if text in {"0", "false", "no"}:
            return False
    return value


def _to_id(value: Any) -> Any:
    """Ids typed "Text" by eMAG but usually numbers (locality ids, §5.9): digits → int."""
    if _blank(value) or value == {}:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


def _to_datetime(value: Any, info: ValidationInfo) -> Any:
    tz: tzinfo = DEFAULT_TZ
    if isinstance(info.context, dict) and isinstance(info.context.get("tz"), tzinfo):
        tz = info.context["tz"]
    try:
        return parse_emag_datetime(value, tz)
    except (ValueError, TypeError):
        return value  # pydantic reports it


def _to_list(value: Any) -> Any:
    """None → []; a PHP array serialised as an object with numeric keys → its values; a lone
    object → a one-item list."""
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        if value and all(str(k).isdigit() for k in value):
            return list(value.values())
        return [value] if value else []
    return value


def _to_str_list(value: Any) -> Any:
    value = _to_list(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return value


Int = Annotated[int | None, BeforeValidator(_to_int)]
Dec = Annotated[Decimal | None, BeforeValidator(_to_decimal)]
Str = Annotated[str | None, BeforeValidator(_to_str)]
Bool = Annotated[bool | None, BeforeValidator(_to_bool)]
IdLike = Annotated[int | str | None, BeforeValidator(_to_id)]
Dt = Annotated[datetime | None, BeforeValidator(_to_datetime)]
StrList = Annotated[list[str], BeforeValidator(_to_str_list)]

T = TypeVar("T")
LenientList = Annotated[list[T], BeforeValidator(_to_list)]


class EmagModel(BaseModel):
    """Base of every eMAG payload model: tolerant, keeps unknown fields and the raw dict."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _tolerate(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if isinstance(data, list) and not data:  # PHP's empty array for an empty object (§16)
            data = {}
        obj = handler(data)
        if isinstance(data, dict):
            obj._raw = data
        return obj

    @property
    def raw(self) -> dict[str, Any]:
        """The dict this model was parsed from, untouched."""
        return self._raw

    @classmethod
    def parse(cls, data: Any, tz: tzinfo = DEFAULT_TZ) -> Self:
        """Validate ``data`` with dates read in ``tz`` (the platform's timezone)."""
        return cls.model_validate(data, context={"tz": tz})


# --- shared pieces -------------------------------------------------------------------------------


class WarehouseValue(EmagModel):
    """``{warehouse_id, value}`` as in offer ``stock`` and ``handling_time`` (§5.1, gotcha 7)."""

    warehouse_id: Int = None
    value: Int = None


class ValidationStatus(EmagModel):
    """``{value, description, errors}`` (§5.2)."""

    value: Int = None
    description: Str = None
    errors: Any = None


def _to_validation_list(value: Any) -> Any:
    if isinstance(value, int | str) and not isinstance(value, bool):
        return [{"value": value}]
    return _to_list(value)


def _to_validation_obj(value: Any) -> Any:
    if isinstance(value, int | str) and not isinstance(value, bool):
        return None if _blank(value) else {"value": value}
    if isinstance(value, list):
        return value[0] if value else None
    return value


class Image(EmagModel):
    url: Str = None
    display_type: Int = None


class Characteristic(EmagModel):
    id: Int = None
    value: Str = None
    tag: Str = None


class Family(EmagModel):
    id: Int = None
    name: Str = None
    family_type_id: Int = None


# --- offers (§5.2) -------------------------------------------------------------------------------


class Offer(EmagModel):
    """One row of ``product_offer/read`` (§5.2). Prices are without VAT (gotcha 5)."""

    id: int = Field(validation_alias=AliasChoices("id", "product_id"))
    part_number_key: Str = None
    category_id: Int = None
    vendor_category_id: Int = None
    brand: Str = None
    name: Str = None
    part_number: Str = None
    description: Str = None
    url: Str = None
    warranty: Int = None
    ean: StrList = Field(default_factory=list)
    sale_price: Dec = None
    recommended_price: Dec = None
    min_sale_price: Dec = None
    max_sale_price: Dec = None
    currency: Str = None
    currency_type: Str = None
    general_stock: Int = None
    estimated_stock: Int = None
    stock: LenientList[WarehouseValue] = Field(default_factory=list)
    handling_time: LenientList[WarehouseValue] = Field(default_factory=list)
    supply_lead_time: Int = None
    status: Int = None
    images: LenientList[Image] = Field(default_factory=list)
    characteristics: LenientList[Characteristic] = Field(default_factory=list)
    vat_id: Int = None
    family: Family | None = None
    number_of_offers: Int = None
    buy_button_rank: Int = None
    best_offer_sale_price: Dec = None
    best_offer_recommended_price: Dec = None
    ownership: Int = None
    validation_status: Annotated[list[ValidationStatus], BeforeValidator(_to_validation_list)] = (
        Field(default_factory=list)
    )
    translation_validation_status: Annotated[
        list[ValidationStatus], BeforeValidator(_to_validation_list)
    ] = Field(default_factory=list)
    offer_validation_status: Annotated[
        ValidationStatus | None, BeforeValidator(_to_validation_obj)
    ] = None
    genius_eligibility: Int = None
    genius_eligibility_type: Int = None
    genius_computed: Int = None
    # Boolean flags when read unfiltered, lists of {name, address, email} when filtered (§5.2).
    manufacturer: bool | list[dict[str, Any]] | None = None
    eu_representative: bool | list[dict[str, Any]] | None = None
    safety_information: Str = None
    doc_errors: Any = None
    created: Dt = None
    modified: Dt = None

    @property
    def stock_total(self) -> int:
        """``general_stock`` when given, else the sum of the warehouse stock list."""
        if self.general_stock is not None:
            return self.general_stock
        return sum(w.value or 0 for w in self.stock)

    @property
    def validation_status_value(self) -> int | None:
        return self.validation_status[0].value if self.validation_status else None


# --- orders (§5.9) -------------------------------------------------------------------------------


def _to_cancellation(value: Any) -> Any:
    if _blank(value) or value == {}:
        return None
    if isinstance(value, int | str) and not isinstance(value, bool):
        return {"id": value}
    return value


class CancellationReason(EmagModel):
    """``reason_cancellation``: an int code in [DOC], an ``{id, name}`` object in [SF] (§5.9)."""

    id: Int = None
    name: Str = None


class OrderDetails(EmagModel):
    """Order ``details`` (locker data); ``[]`` when there is none (gotcha 16)."""

    locker_id: Str = None
    locker_name: Str = None
    locker_delivery_eligible: Int = None
    courier_external_office_id: Str = None


class Customer(EmagModel):
    """Order ``customer`` (§5.9). ``email`` is a per-customer hash, not an address (gotcha 17)."""

    id: Int = None
    mkt_id: Int = None
    name: Str = None
    email: Str = None
    company: Str = None
    gender: Str = None
    code: Str = None
    registration_number: Str = None
    bank: Str = None
    iban: Str = None
    fax: Str = None
    legal_entity: Int = None
    is_vat_payer: Int = None
    phone_1: Str = None
    phone_2: Str = None
    phone_3: Str = None
    liable_person: Str = None
    billing_name: Str = None
    billing_phone: Str = None
    billing_country: Str = None
    billing_suburb: Str = None
    billing_city: Str = None
    billing_locality_id: IdLike = None
    billing_street: Str = None
    billing_postal_code: Str = None
    shipping_country: Str = None
    shipping_suburb: Str = None
    shipping_city: Str = None
    shipping_locality_id: IdLike = None
    shipping_street: Str = None
    shipping_postal_code: Str = None
    shipping_contact: Str = None
    shipping_phone: Str = None
    created: Dt = None
    modified: Dt = None


class VoucherSplit(EmagModel):
    voucher_id: Int = None
    value: Dec = None
    vat_value: Dec = None
    vat: Dec = None
    offered_by: Str = None
    voucher_name: Str = None


class Attachment(EmagModel):
    """Order attachment as read: ``{name, url, type, force_download, visibility}`` (§5.9)."""

    name: Str = None
    url: Str = None
    type: Int = None
    force_download: Int = None
    visibility: Str = None


class OrderProduct(EmagModel):
    """One order line (§5.9). ``sale_price`` is without VAT, ``vat`` a fraction ("0.2400")."""

    id: Int = None
    product_id: Int = None
    mkt_id: Int = None
    name: Str = None
    status: Int = None
    part_number: Str = None
    part_number_key: Str = None
    ext_part_number: Str = None
    quantity: Int = None
    initial_qty: Int = None
    storno_qty: Int = None
    sale_price: Dec = None
    original_price: Dec = None
    vat: Dec = None
    currency: Str = None
    retained_amount: Dec = None
    reversible_vat_charging: Int = None
    created: Dt = None
    modified: Dt = None
    details: Any = None
    serial_numbers: Any = None
    product_voucher_split: LenientList[VoucherSplit] = Field(default_factory=list)
    recycle_warranties: LenientList[dict[str, Any]] = Field(default_factory=list)
    attachments: LenientList[Attachment] = Field(default_factory=list)
    campaign: Any = None


class Voucher(EmagModel):
    """Order voucher (§5.9): ``sale_price`` < 0 without VAT, ``sale_price_vat`` its VAT."""

    voucher_id: Int = None
    voucher_name: Str = None
    status: Int = None
    sale_price: Dec = None
    sale_price_vat: Dec = None
    vat: Dec = None
    created: Dt = None
    modified: Dt = None
    issue_date: Dt = None


class Order(EmagModel):
    """One ``order/read`` row (§5.9).

    ``reason_cancellation`` also reads the pre-4.4.7 name ``cancellation_reason`` (gotcha 19), and
    either an int code or an ``{id, name}`` object becomes a :class:`CancellationReason`.
    """

    id: int
    status: Int = None
    is_complete: Int = None
    type: Int = None
    payment_mode_id: Int = None
    payment_mode: Str = None
    detailed_payment_method: Str = None
    delivery_mode: Str = None
    delivery_payment_mode: Str = None
    details: OrderDetails | None = None
    date: Dt = None
    created: Dt = None
    modified: Dt = None
    payment_status: Int = None
    cashed_co: Dec = None
    cashed_cod: Dec = None
    shipping_tax: Dec = None
    shipping_tax_voucher_split: LenientList[VoucherSplit] = Field(default_factory=list)
    customer: Customer | None = None
    products: LenientList[OrderProduct] = Field(default_factory=list)
    vouchers: LenientList[Voucher] = Field(default_factory=list)
    attachments: LenientList[Attachment] = Field(default_factory=list)
    is_storno: Bool = None
    reason_cancellation: Annotated[CancellationReason | None, BeforeValidator(_to_cancellation)] = (
        Field(
            default=None,
            validation_alias=AliasChoices("reason_cancellation", "cancellation_reason"),
        )
    )
    # null = any courier; [] = no AWB from MKTP; a list = one of these (§5.9). Kept as given.
    enforced_vendor_courier_accounts: list[Any] | None = None
    vendor_name: Str = None
    observation: Str = None
    parent_id: Int = None
    refunded_amount: Dec = None
    refund_status: Str = None
    maximum_date_for_shipment: Dt = None
    finalization_date: Dt = None
    late_shipment: Int = None
    emag_club: Int = None
    weekend_delivery: Int = None
    currency: Str = None
    has_editable_products: Int = None
    cancellation_request: Any = None
    proforms: Any = None
    flags: LenientList[dict[str, Any]] = Field(default_factory=list)

    @property
    def cancellation_reason_id(self) -> int | None:
        return self.reason_cancellation.id if self.reason_cancellation else None


# --- count, find_by_eans, light offer save -------------------------------------------------------


class CountResult(EmagModel):
    """``{resource}/count`` results: ``{noOfItems, noOfPages, itemsPerPage}`` as ints or strings
    (§4, UNCERTAIN: both accepted). ``count`` is accepted as a fallback for ``noOfItems``."""

    no_of_items: Int = Field(default=None, validation_alias=AliasChoices("noOfItems", "count"))
    no_of_pages: Int = Field(default=None, validation_alias=AliasChoices("noOfPages"))
    items_per_page: Int = Field(default=None, validation_alias=AliasChoices("itemsPerPage"))

    def pages(self, items_per_page: int) -> int | None:
        """Pages at ``items_per_page``: computed from ``noOfItems`` when known, else ``noOfPages``
        when the server used the same page size."""
        if self.no_of_items is not None:
            return -(-self.no_of_items // items_per_page)
        if self.no_of_pages is not None and self.items_per_page in (None, items_per_page):
            return self.no_of_pages
        return None


class EanProduct(EmagModel):
    """One product of a ``documentation/find_by_eans`` answer (§5.6). The doc table's
    ``allow_to_add_offer`` is accepted as an alias of the example's ``allowed_to_add_offer``."""

    ean: Str = None
    part_number_key: Str = None
    product_name: Str = None
    brand_name: Str = None
    doc_category_id: Int = None
    category_name: Str = None
    site_url: Str = None
    allowed_to_add_offer: Bool = Field(
        default=None, validation_alias=AliasChoices("allowed_to_add_offer", "allow_to_add_offer")
    )
    vendor_has_offer: Bool = None
    hotness: Str = None
    product_image: Str = None


class OfferItemResult(EmagModel):
    """One item of the light ``offer/save`` answer (§5.3), keyed by offer id."""

    is_error: Bool = Field(default=False, validation_alias=AliasChoices("isError", "is_error"))
    messages: Annotated[list[str], BeforeValidator(_to_str_list)] = Field(default_factory=list)


# --- AWB (§5.11) ---------------------------------------------------------------------------------


class AwbNumber(EmagModel):
    emag_id: Int = None
    awb_number: Str = None
    awb_barcode: Str = None


class AwbStatus(EmagModel):
    code: Str = None
    name: Str = None
    description: Str = None


class AwbCourier(EmagModel):
    courier_account_id: Int = None
    courier_name: Str = None
    courier_id: Int = None


class Awb(EmagModel):
    """One ``awb/read`` row (§5.11)."""

    emag_id: Int = None
    reservation_id: Int = None
    order_id: Int = None
    rma_id: Int = None
    type: Int = None
    weight: Dec = None
    awb_type: Int = None
    awb: LenientList[AwbNumber] = Field(default_factory=list)
    status: AwbStatus | None = None
    courier: AwbCourier | None = None


class AwbSaveResult(EmagModel):
    """``awb/save`` results. The shape is UNCERTAIN (§5.11): [VTEX] reads ``reservation_id``, [OC]
    ``awb[0].emag_id``/``awb_number``; both are read, anything else is kept as extra fields."""

    reservation_id: Int = None
    awb: LenientList[AwbNumber] = Field(default_factory=list)

    @property
    def emag_id(self) -> int | None:
        return self.awb[0].emag_id if self.awb else None

    @property
    def awb_number(self) -> str | None:
        return self.awb[0].awb_number if self.awb else None


# --- RMA (§5.14) ---------------------------------------------------------------------------------


class RmaProduct(EmagModel):
    id: Int = None
    product_emag_id: Int = None
    product_id: Int = None
    quantity: Int = None
    product_name: Str = None
    return_reason: Int = None
    observations: Str = None
    diagnostic: Any = None
    reject_reason: Any = None
    refund_value: Dec = None


class Rma(EmagModel):
    """One ``rma/read`` row (§5.14). ``locker`` is ``[]`` or an object; kept as a dict."""

    emag_id: Int = None
    order_id: Int = None
    type: Int = None
    request_status: Int = None
    return_type: Int = None
    return_reason: Int = None
    pickup_method: Int = None
    customer_name: Str = None
    customer_company: Str = None
    customer_phone: Str = None
    products: LenientList[RmaProduct] = Field(default_factory=list)
    awbs: LenientList[dict[str, Any]] = Field(default_factory=list)
    pickup_country: Str = None
    pickup_suburb: Str = None
    pickup_city: Str = None
    pickup_address: Str = None
    pickup_zipcode: Str = None
    pickup_locality_id: IdLike = None
    pickup_date: Dt = None
    observations: Str = None
    return_address_id: IdLike = None
    date: Dt = None
    is_full_fbe: Int = None
    is_club: Int = None
    is_fast: Int = None
    return_parent_id: Int = None
    currency: Str = None
    locker: Annotated[dict[str, Any], BeforeValidator(lambda v: {} if _blank(v) else v)] = Field(
        default_factory=dict
    )
    status_history: LenientList[dict[str, Any]] = Field(default_factory=list)
    request_history: LenientList[dict[str, Any]] = Field(default_factory=list)
    extra_info: Any = None


# --- reference data ------------------------------------------------------------------------------


class CourierAccount(EmagModel):
    """``courier_accounts/read`` (§5.12)."""

    account_id: Int = None
    account_display_name: Str = None
    courier_account_type: Int = None
    courier_name: Str = None
    courier_account_properties: LenientList[Any] = Field(default_factory=list)
    created: Dt = None
    status: Int = None
    pickup_country_code: Str = None


class Locality(EmagModel):
    """``locality/read`` (§5.12). ``country`` (pre-4.4.7) is read as ``country_code``."""

    emag_id: Int = None
    name: Str = None
    name_latin: Str = None
    region1: Str = None
    region2: Str = None
    region3: Str = None
    region4: Str = None
    region1_latin: Str = None
    region2_latin: Str = None
    region3_latin: Str = None
    region4_latin: Str = None
    geoid: Int = None
    zipcode: Str = None
    country_code: Str = Field(
        default=None, validation_alias=AliasChoices("country_code", "country")
    )
    iso2: Str = None
    modified: Dt = None


class Vat(EmagModel):
    """``vat/read`` (§5.8): ``vat_rate`` is a fraction (0.19)."""

    vat_id: Int = Field(default=None, validation_alias=AliasChoices("vat_id", "id"))
    vat_rate: Dec = None
    is_default: Bool = None


class HandlingTime(EmagModel):
    """``handling_time/read`` (§5.8): shape UNCERTAIN ([MOCK] ``{id}``, [T451] ``{id?, value,
    name?}``); ``value`` falls back to ``id`` when absent."""

    id: Int = None
    value: Int = None
    name: Str = None

    @model_validator(mode="after")
    def _value_from_id(self) -> Self:
        if self.value is None:
            self.value = self.id
        return self


class CategoryCharacteristic(EmagModel):
    id: Int = None
    name: Str = None
    type_id: Int = None
    display_order: Int = None
    is_mandatory: Int = None
    is_filter: Int = None
    allow_new_value: Int = None
    values: LenientList[Any] = Field(default_factory=list)
    tags: LenientList[Any] = Field(default_factory=list)


class FamilyType(EmagModel):
    id: Int = None
    name: Str = None
    characteristics: LenientList[dict[str, Any]] = Field(default_factory=list)


class Category(EmagModel):
    """``category/read`` (§5.7); ``characteristics``/``family_types`` only when read by id."""

    id: int
    name: Str = None
    is_allowed: Int = None
    parent_id: Int = None
    is_ean_mandatory: Int = None
    is_warranty_mandatory: Int = None
    characteristics: LenientList[CategoryCharacteristic] = Field(default_factory=list)
    family_types: LenientList[FamilyType] = Field(default_factory=list)


M = TypeVar("M", bound=EmagModel)


@dataclass
class ParsedList(Generic[M]):
    """Items parsed from a list of raw dicts; rows that could not be parsed are kept in
    ``invalid`` with the reason (never silently dropped)."""

    items: list[M] = field(default_factory=list)
    invalid: list[tuple[Any, str]] = field(default_factory=list)


def parse_items(model: type[M], rows: Any, tz: tzinfo = DEFAULT_TZ) -> ParsedList[M]:
    """Parse ``results`` of a read into ``model`` items, tolerating a dict keyed by id."""
    out: ParsedList[M] = ParsedList()
    for row in _to_list(rows) if not isinstance(rows, list) else rows:
        try:
            out.items.append(model.parse(row, tz))
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            out.invalid.append((row, str(exc).splitlines()[0] if str(exc) else repr(exc)))
    return out
