"""The few eMAG answers the client returns typed: counts, light offer saves, AWB saves and
courier accounts. Rows of reads are not modelled: they are stored raw and mapped by their
domain (``catalog.mapping``, ``orders.mapping``, ``returns.service``).

Every field converts through :mod:`magflow.emag.coerce` (the one set of rules for eMAG values,
docs/emag-protocol.md, "PHP serialization quirks"); an unreadable value is ``None``. Unknown
fields are kept (``extra="allow"``) and each model keeps the dict it was parsed from in ``.raw``.
Dates are read in the platform's zone: pass it as ``context={"tz": ...}`` (``Model.parse`` does).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Any, Self

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

from magflow.emag import coerce
from magflow.emag.dates import DEFAULT_TZ

__all__ = [
    "AwbNumber",
    "AwbSaveResult",
    "CountResult",
    "CourierAccount",
    "EmagModel",
    "OfferItemResult",
]


def _to_datetime(value: Any, info: ValidationInfo) -> datetime | None:
    tz: tzinfo = DEFAULT_TZ
    if isinstance(info.context, dict) and isinstance(info.context.get("tz"), tzinfo):
        tz = info.context["tz"]
    return coerce.to_datetime(value, tz)


def _to_str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [text for v in coerce.to_list(value) if (text := coerce.to_str(v)) is not None]


Int = Annotated[int | None, BeforeValidator(coerce.to_int)]
Str = Annotated[str | None, BeforeValidator(coerce.to_str)]
Bool = Annotated[bool | None, BeforeValidator(coerce.to_bool)]
Dt = Annotated[datetime | None, BeforeValidator(_to_datetime)]
StrList = Annotated[list[str], BeforeValidator(_to_str_list)]


class EmagModel(BaseModel):
    """Base of the typed answers: tolerant, keeps unknown fields and the raw dict."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _tolerate(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if isinstance(data, BaseModel):  # already parsed
            return handler(data)
        if not isinstance(data, dict):  # PHP's [] for an empty object, or junk: no fields
            data = {}
        obj = handler(data)
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


class CountResult(EmagModel):
    """``{resource}/count`` results: ``{noOfItems, noOfPages, itemsPerPage}`` as ints or strings
    (uncertain, both accepted: docs/emag-protocol.md, "Paging, counts and filters"). ``count`` is
    accepted as a fallback for ``noOfItems``."""

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


class OfferItemResult(EmagModel):
    """One item of the light ``offer/save`` answer (docs/emag-protocol.md, "Offers"), keyed by offer
    id."""

    is_error: Bool = Field(default=False, validation_alias=AliasChoices("isError", "is_error"))
    messages: StrList = Field(default_factory=list)


class AwbNumber(EmagModel):
    emag_id: Int = None
    awb_number: Str = None
    awb_barcode: Str = None


def _awb_numbers(value: Any) -> list[Any]:
    """``awb`` as objects; a bare AWB number (a string or an int) is read as ``awb_number``."""
    items = coerce.to_list(value) if isinstance(value, list | dict) else [value]
    return [
        item if isinstance(item, dict | AwbNumber) else {"awb_number": item}
        for item in items
        if not coerce.is_blank(item)
    ]


class AwbSaveResult(EmagModel):
    """``awb/save`` results. The shape is UNCERTAIN (docs/emag-protocol.md, "AWBs and couriers"):
    [VTEX] reads ``reservation_id``, [OC] ``awb[0].emag_id``/``awb_number``; both are read, anything
    else is kept as extra fields."""

    reservation_id: Int = None
    awb: Annotated[list[AwbNumber], BeforeValidator(_awb_numbers)] = Field(default_factory=list)

    @property
    def emag_id(self) -> int | None:
        return self.awb[0].emag_id if self.awb else None

    @property
    def awb_number(self) -> str | None:
        return self.awb[0].awb_number if self.awb else None


class CourierAccount(EmagModel):
    """``courier_accounts/read`` (docs/emag-protocol.md, "AWBs and couriers")."""

    account_id: Int = None
    account_display_name: Str = None
    courier_account_type: Int = None
    courier_name: Str = None
    courier_account_properties: Annotated[list[Any], BeforeValidator(coerce.to_list)] = Field(
        default_factory=list
    )
    created: Dt = None
    status: Int = None
    pickup_country_code: Str = None
