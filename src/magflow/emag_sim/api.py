"""The eMAG Marketplace API actions of the simulator
(docs/emag-protocol.md, "Paging, counts and filters", "Offers", "Orders") and their rules.

Every handler takes the authenticated :class:`AccountState` and the parsed payload (see
:mod:`.bodies`) and returns a :class:`Reply`. Errors follow
docs/emag-protocol.md, "Answers and errors": HTTP 200 with
``{"isError": true, "messages": [...], "results": [], "errors": []}``, except ``offer_stock``
(204/400/404 with ``{"message": ...}`` bodies, docs/emag-protocol.md, "Offers").

Choices where docs/emag-protocol.md is UNCERTAIN (tolerant readings):

- ``itemsPerPage`` over 100 is silently capped at 100, also for orders
  (docs/emag-protocol.md, "Rate and size limits"); values below 1 or unreadable fall back to the
  default 100; ``currentPage`` below 1 is 1.
- Count numbers are emitted as strings (``"noOfItems": "123"``), the PHP quirk of
  docs/emag-protocol.md, "PHP serialization quirks"; the client must coerce
  (docs/emag-protocol.md, "Paging, counts and filters").
- Unknown filter keys are ignored (docs/emag-protocol.md, "Paging, counts and filters"). Order
  ``read`` and ``count`` refuse a date bound given without its pair (``createdAfter`` without
  ``createdBefore``...) and two bounds more than one calendar month apart; [DOC] states the first
  rule for ``count`` only, and the strict reading on both keeps MagFlow sending both bounds
  (docs/emag-protocol.md, "Paging, counts and filters"). Date bounds are inclusive.
- Read/count/save actions answer both POST and GET.
- ``product_offer/save`` validates item by item: valid items are saved even when another item
  fails; the answer is then ``isError: true`` listing the failures (docs/emag-protocol.md, "Offers":
  "a documentation error returns isError:true, yet the offer is saved"). Updates require ``status``,
  ``sale_price`` and ``vat_id`` (the offer-only update of docs/emag-protocol.md, "Offers");
  ``handling_time`` and ``stock`` keep their values when absent.
- ``order/save`` is all-or-nothing per request: if one order fails, none is applied. Fields that
  eMAG owns (customer, dates, payment...) are accepted as sent back and ignored; status and
  product lines are applied. ``order/attachments/save`` does not change ``modified``.
- ``awb/save`` takes a single object (a one-element list is accepted too); its answer is
  ``{"reservation_id", "courier_id", "courier_name", "awb": [{"emag_id", "awb_number",
  "awb_barcode"}]}`` (the best guess of docs/emag-protocol.md, "AWBs and couriers"), or
  ``{"reservation_id"}`` alone (``SimConfig.awb_answer``; by default every other AWB), which eMAG
  is known to answer too. Phones must be 8 to 11 digits with an optional ``+`` and nothing else;
  a sender's ``address_id`` must be one of ``addresses/read``; the order's
  ``enforced_vendor_courier_accounts`` and the courier account's type (orders/returns) are
  enforced.
- ``awb/read_pdf`` and ``awb/read_zpl`` are served only without ``/api-3``, as documented (see
  :meth:`EmagApi.root_routes`); ``awb_format`` is required.
- ``order/acknowledge`` on an order already in status 2 is a no-op success (idempotent).
- ``handling_time/read`` answers ``[{"id", "value", "name"}]`` (union of [MOCK] and [T451],
  docs/emag-protocol.md, "Offers").
"""

from __future__ import annotations

import base64
import calendar
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from magflow.emag_sim import competition, data, labels
from magflow.emag_sim.data import parse_local
from magflow.emag_sim.state import (
    DAY,
    OFFER_ID_MAX,
    AccountState,
    Json,
    OfferFilter,
    OrderFilter,
    SimState,
)

MAX_ENTITIES = 50  # docs/emag-protocol.md, "Rate and size limits"
MAX_PAGE = 100  # docs/emag-protocol.md, "Rate and size limits"
MAX_EANS = 100  # docs/emag-protocol.md, "Offers"
# "≤ return time + 5 days" (docs/emag-protocol.md, "Orders"): we take a 30-day return period
# (UNCERTAIN)
RETURN_DAYS = 30
SUPPLY_LEAD_TIMES = {2, 3, 5, 7, 14, 30, 60, 90, 120}
ATTACHMENT_TYPES = {1, 3, 4, 8, 10, 11}
# docs/emag-protocol.md, "Orders": order/save needs the whole order as read; these must at least be
# present.
REQUIRED_ORDER_FIELDS = (
    "id",
    "status",
    "type",
    "payment_mode_id",
    "date",
    "customer",
    "products",
    "details",
    "shipping_tax",
    "delivery_mode",
)


@dataclass
class Reply:
    """An answer: ``body`` is JSON-serialised, unless it is ``bytes`` (a document, sent as is
    with ``media_type``)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str | None = None


class ApiError(Exception):
    """Answered as HTTP 200 ``isError: true`` with the message."""


def envelope(results: Any, messages: list[str] | None = None, is_error: bool = False) -> Json:
    """docs/emag-protocol.md, "Answers and errors":
    ``{"isError", "messages", "results", "errors"}``."""
    return {"isError": is_error, "messages": messages or [], "results": results, "errors": []}


def ok(results: Any, messages: list[str] | None = None) -> Reply:
    return Reply(200, envelope(results, messages))


def fail(messages: list[str] | str) -> Reply:
    return Reply(200, envelope([], [messages] if isinstance(messages, str) else messages, True))


# --- coercion ----------------------------------------------------------------------------------


def as_int(value: Any, name: str) -> int:
    """An int from an int, an integral float or a digit string (form bodies give strings)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    raise ApiError(f"Invalid value for {name}: {value!r}")


def as_int_set(value: Any, name: str) -> frozenset[int]:
    """An int or a list of ints (docs/emag-protocol.md, "Paging, counts and filters": ``status`` and
    ``payment_mode_id`` take both)."""
    if isinstance(value, list | tuple):
        return frozenset(as_int(v, name) for v in value)
    if isinstance(value, dict):
        return frozenset(as_int(v, name) for v in value.values())
    if isinstance(value, str) and "," in value:
        return frozenset(as_int(v, name) for v in value.split(","))
    return frozenset({as_int(value, name)})


def as_number(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ApiError(f"Invalid value for {name}: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ApiError(f"Invalid value for {name}: {value!r}") from None
    if not number.is_finite():
        raise ApiError(f"Invalid value for {name}: {value!r}")
    return number


def _strict_int(value: Any) -> int | None:
    """A whole number, or None (for stock: "Decimals are not allowed",
    docs/emag-protocol.md, "Answers and errors")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def page_args(payload: Json) -> tuple[int, int]:
    """``currentPage`` (default 1) and ``itemsPerPage`` (default 100, capped at 100),
    docs/emag-protocol.md, "Paging, counts and filters"."""
    try:
        page = as_int(payload.get("currentPage", 1), "currentPage")
    except ApiError:
        page = 1
    try:
        per_page = as_int(payload.get("itemsPerPage", MAX_PAGE), "itemsPerPage")
    except ApiError:
        per_page = MAX_PAGE
    if per_page < 1:
        per_page = MAX_PAGE
    return max(1, page), min(per_page, MAX_PAGE)


def count_result(total: int, per_page: int) -> Json:
    """The count answer (docs/emag-protocol.md, "Paging, counts and filters"); numbers as strings
    (PHP quirk, UNCERTAIN: the client coerces)."""
    pages = math.ceil(total / per_page) if per_page else 0
    return {"noOfItems": str(total), "noOfPages": str(pages), "itemsPerPage": str(per_page)}


def _dict_payload(payload: Any) -> Json:
    if isinstance(payload, dict):
        return payload
    if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], dict):
        return payload[0]
    if payload in ([], None):
        return {}
    raise ApiError("Invalid request: filters must be an object")


def _list_payload(payload: Any) -> list[Any]:
    """Save bodies: a list of entities (docs/emag-protocol.md, "Offers", "Orders"); a single object
    is taken as a list of one."""
    if isinstance(payload, list):
        items = payload
    elif isinstance(payload, dict) and payload:
        items = [payload]
    else:
        raise ApiError("No data sent")
    if len(items) > MAX_ENTITIES:
        raise ApiError(
            f"Maximum number of entities per request exceeded: {len(items)} sent, "
            f"{MAX_ENTITIES} allowed"
        )
    return items


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _price_out(value: Decimal) -> float:
    return float(round(value, 4))


# --- the API -------------------------------------------------------------------------------------

Handler = Callable[[AccountState, Any, dict[str, str]], Reply]


#: Customer fields eMAG owns: never taken from an ``order/save`` body.
EMAG_OWNED_CUSTOMER_FIELDS = frozenset({"id", "mkt_id", "email", "created", "modified"})


def _taken_as_sent(current: Json, item: Json) -> Json:
    """What ``order/save`` takes from the sent order besides status and lines: ``observation``
    and the customer's own fields (those the stored customer has, eMAG's ids and dates left
    out). The simulator's reading of "send ALL the fields initially read"
    (docs/emag-protocol.md, "Orders"): the sent copy replaces eMAG's, stale or not."""
    taken: Json = {}
    if "observation" in item:
        taken["observation"] = item["observation"]
    sent = item.get("customer")
    known = current.get("customer")
    if isinstance(sent, dict) and isinstance(known, dict):
        changes = {
            k: v
            for k, v in sent.items()
            if k in known and k not in EMAG_OWNED_CUSTOMER_FIELDS and v != known[k]
        }
        if changes:
            taken["customer"] = {**known, **changes}
    return taken


class EmagApi:
    """Routes ``{resource}/{action}`` to handlers; see :data:`ROUTES` in :meth:`routes`."""

    def __init__(self, state: SimState, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock

    def root_routes(self) -> dict[str, tuple[frozenset[str], Handler]]:
        """Actions served at the host's root, not under ``/api-3``: the AWB labels, whose
        documented URLs have no ``/api-3`` (docs/emag-protocol.md, "AWBs and couriers"; which is
        right is uncertain, so the simulator takes the documented form and a client must fall
        back to it)."""
        get = frozenset({"GET"})
        return {
            "awb/read_pdf": (get, self.awb_read_pdf),
            "awb/read_zpl": (get, self.awb_read_zpl),
        }

    def routes(self) -> dict[str, tuple[frozenset[str], Handler]]:
        post = frozenset({"POST", "GET"})
        return {
            "product_offer/read": (post, self.product_offer_read),
            "product_offer/count": (post, self.product_offer_count),
            "product_offer/save": (post, self.product_offer_save),
            "offer/save": (post, self.offer_save),
            "offer_stock": (frozenset({"PATCH"}), self.offer_stock),
            "measurements/save": (post, self.measurements_save),
            "documentation/find_by_eans": (post, self.find_by_eans),
            "category/read": (post, self.category_read),
            "category/count": (post, self.category_count),
            "vat/read": (post, self.vat_read),
            "handling_time/read": (post, self.handling_time_read),
            "courier_accounts/read": (post, self.courier_accounts_read),
            "locality/read": (post, self.locality_read),
            "locality/count": (post, self.locality_count),
            "rma/read": (post, self.rma_read),
            "rma/count": (post, self.rma_count),
            "awb/save": (post, self.awb_save),
            "awb/read": (post, self.awb_read),
            "addresses/read": (post, self.addresses_read),
            "order/read": (post, self.order_read),
            "order/count": (post, self.order_count),
            "order/acknowledge": (post, self.order_acknowledge),
            "order/save": (post, self.order_save),
            "order/attachments/save": (post, self.order_attachments_save),
            "order/unlock-courier": (post, self.order_unlock_courier),
        }

    @staticmethod
    def resolve(path: str) -> tuple[str, dict[str, str]]:
        """``order/acknowledge/123`` → (``order/acknowledge``, {"id": "123"})
        (docs/emag-protocol.md, "Requests and authentication")."""
        parts = [p for p in path.strip("/").split("/") if p]
        if len(parts) == 3 and parts[:2] == ["order", "acknowledge"]:
            return "order/acknowledge", {"id": parts[2]}
        if len(parts) == 2 and parts[0] == "offer_stock":
            return "offer_stock", {"id": parts[1]}
        if len(parts) == 3 and parts[0] == "order" and parts[2] == "unlock-courier":
            return "order/unlock-courier", {"id": parts[1]}
        return "/".join(parts), {}

    # --- offers (docs/emag-protocol.md, "Offers") -------------------------------------------------

    def _offer_filter(self, payload: Json) -> OfferFilter:
        def opt_int(key: str) -> int | None:
            value = payload.get(key)
            return None if value in (None, "") else as_int(value, key)

        def opt_str(key: str) -> str | None:
            value = payload.get(key)
            return None if value in (None, "") else str(value)

        return OfferFilter(
            id=opt_int("id"),
            status=opt_int("status"),
            part_number=opt_str("part_number"),
            part_number_key=opt_str("part_number_key"),
            general_stock=opt_int("general_stock"),
            estimated_stock=opt_int("estimated_stock"),
            offer_validation_status=opt_int("offer_validation_status"),
            validation_status=opt_int("validation_status"),
            translation_validation_status=opt_int("translation_validation_status"),
        )

    def product_offer_read(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """docs/emag-protocol.md, "Offers". ``manufacturer``/``eu_representative`` are booleans
        unfiltered, lists when the read is filtered by a product id."""
        filters = _dict_payload(payload)
        f = self._offer_filter(filters)
        page, per_page = page_args(filters)
        ids = acc.offer_ids(f)
        out = []
        for offer_id in ids[(page - 1) * per_page : page * per_page]:
            offer = acc.get_offer(offer_id)
            if offer is None:
                continue
            offer = competition.view(acc, offer, self.clock())
            if f.id is not None:
                offer = dict(offer)
                for key in ("manufacturer", "eu_representative"):
                    flag = offer.get(key)
                    if isinstance(flag, bool):
                        offer[key] = (
                            [
                                {
                                    "name": "MagFlow Sim SRL",
                                    "address": "Bucuresti",
                                    "email": "gpsr@magflow-sim.invalid",
                                }
                            ]
                            if flag
                            else []
                        )
            out.append(offer)
        return ok(out)

    def product_offer_count(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        filters = _dict_payload(payload)
        _page, per_page = page_args(filters)
        return ok(count_result(len(acc.offer_ids(self._offer_filter(filters))), per_page))

    def _vat_ids(self) -> set[int]:
        return {v[0] for v in data.VAT_RATES[self.state.market]}

    def _check_prices(
        self, item: Json, current: Json | None, errors: list[str], first_save: bool
    ) -> dict[str, Decimal | None]:
        """docs/emag-protocol.md, "Offers": sale in [min, max], max > min, recommended > sale,
        min/max on the first save; prices > 0 with at most 4 decimals."""
        values: dict[str, Decimal | None] = {}
        for key in ("sale_price", "min_sale_price", "max_sale_price", "recommended_price"):
            if key in item and item[key] not in (None, ""):
                try:
                    number = as_number(item[key], key)
                except ApiError as exc:
                    errors.append(str(exc))
                    continue
                if number <= 0:
                    errors.append(f"{key} must be greater than 0")
                elif _decimals(number) > 4:
                    errors.append(f"{key} can have at most 4 decimals")
                values[key] = number
            elif key == "recommended_price" and key in item:
                values[key] = None  # explicit null removes the recommended price
            elif current is not None and current.get(key) not in (None, ""):
                values[key] = Decimal(str(current[key]))
        if first_save and (
            item.get("min_sale_price") in (None, "") or item.get("max_sale_price") in (None, "")
        ):
            errors.append("min_sale_price and max_sale_price are mandatory on the first save")
        if errors:
            return values
        sale, lo, hi = (
            values.get("sale_price"),
            values.get("min_sale_price"),
            values.get("max_sale_price"),
        )
        rec = values.get("recommended_price")
        if lo is not None and hi is not None and hi <= lo:
            errors.append("max_sale_price must be greater than min_sale_price")
        if sale is not None and lo is not None and sale < lo:
            errors.append(f"sale_price {sale} is lower than min_sale_price {lo}")
        if sale is not None and hi is not None and sale > hi:
            errors.append(f"sale_price {sale} is greater than max_sale_price {hi}")
        if rec is not None and sale is not None and rec <= sale:
            errors.append("recommended_price must be greater than sale_price")
        return values

    def _check_warehouse_list(
        self, value: Any, name: str, top: int, errors: list[str]
    ) -> list[Json] | None:
        """``stock``/``handling_time`` as ``[{warehouse_id, value}]``
        (docs/emag-protocol.md, "Offers")."""
        if isinstance(value, dict) and "warehouse_id" in value:
            value = [value]
        if not isinstance(value, list) or not value:
            errors.append(f"{name} must be a list of {{warehouse_id, value}}")
            return None
        out = []
        for entry in value:
            if not isinstance(entry, dict):
                errors.append(f"{name} must be a list of {{warehouse_id, value}}")
                return None
            wid = _strict_int(entry.get("warehouse_id", 1))
            number = _strict_int(entry.get("value"))
            if number is None:
                if name == "stock":
                    errors.append(
                        "The stock field is mandatory. Its value must be a whole (integer) "
                        "number. Decimals are not allowed. (ex: 5)"
                    )
                else:
                    errors.append(f"{name} value must be a whole number")
                return None
            if number < 0:
                errors.append(
                    "Stock should be 0 or more"
                    if name == "stock"
                    else f"{name} should be 0 or more"
                )
                return None
            if number > top:
                errors.append(f"{name} should be at most {top}")
                return None
            out.append({"warehouse_id": wid if wid is not None else 1, "value": number})
        return out

    def _apply_offer_fields(
        self, item: Json, base: Json, prices: dict[str, Decimal | None], errors: list[str]
    ) -> Json:
        """Validate the offer fields common to product_offer/save and offer/save and apply them to
        a copy of ``base``."""
        offer = dict(base)
        if "status" in item:
            try:
                status = as_int(item["status"], "status")
                if status not in (0, 1, 2):
                    errors.append("status must be 0, 1 or 2")
                offer["status"] = status
            except ApiError as exc:
                errors.append(str(exc))
        if "vat_id" in item:
            try:
                vat_id = as_int(item["vat_id"], "vat_id")
                if vat_id not in self._vat_ids():
                    errors.append(f"vat_id {vat_id} does not exist")
                offer["vat_id"] = vat_id
            except ApiError as exc:
                errors.append(str(exc))
        if "stock" in item:
            stock = self._check_warehouse_list(item["stock"], "stock", 65535, errors)
            if stock is not None:
                reserved = max(
                    0, int(base.get("general_stock", 0)) - int(base.get("estimated_stock", 0))
                )
                total = sum(s["value"] for s in stock)
                offer["stock"] = stock
                offer["general_stock"] = total
                offer["estimated_stock"] = max(0, total - reserved)
        if "handling_time" in item:
            handling = self._check_warehouse_list(
                item["handling_time"], "handling_time", 255, errors
            )
            if handling is not None:
                offer["handling_time"] = handling
        if "supply_lead_time" in item:
            try:
                lead = as_int(item["supply_lead_time"], "supply_lead_time")
                if lead not in SUPPLY_LEAD_TIMES:
                    errors.append(f"supply_lead_time must be one of {sorted(SUPPLY_LEAD_TIMES)}")
                offer["supply_lead_time"] = lead
            except ApiError as exc:
                errors.append(str(exc))
        if "currency_type" in item and item["currency_type"] not in (None, "", "EUR", "PLN"):
            errors.append("currency_type must be EUR or PLN")
        for key, value in prices.items():
            offer[key] = None if value is None else _price_out(value)
        return offer

    def _new_offer_base(
        self, acc: AccountState, offer_id: int, item: Json, errors: list[str]
    ) -> Json:
        """A new offer: attach by PNK or a single EAN, or a new product
        (docs/emag-protocol.md, "Offers")."""
        seed = self.state.seed
        pnk, ean = item.get("part_number_key"), item.get("ean")
        attach = pnk not in (None, "") or (
            isinstance(ean, list) and len(ean) == 1 and not item.get("category_id")
        )
        if pnk not in (None, "") and ean not in (None, "", []):
            errors.append("part_number_key and ean are mutually exclusive")
        name = str(item.get("name") or "")
        if not 1 <= len(name) <= 255:
            errors.append("name is mandatory (1-255 characters)")
        if item.get("status") in (2, "2"):
            errors.append("status 2 (end of life) can only be used on updates")
        part_number = str(item.get("part_number") or "")
        for ch in " ,;":
            part_number = part_number.replace(ch, "")
        if not attach:
            for key in ("category_id", "brand"):
                if item.get(key) in (None, ""):
                    errors.append(f"{key} is mandatory for a new product")
            if not 1 <= len(part_number) <= 25:
                errors.append("part_number is mandatory (1-25 characters)")
            index = data.part_number_index(seed, part_number)
            if index is not None and index < acc.n_offers and index + 1 != offer_id:
                errors.append(f"part_number {part_number} is already used by another product")
        if isinstance(ean, list):
            for code in ean:
                if not (
                    isinstance(code, str | int)
                    and str(code).isdigit()
                    and 6 <= len(str(code)) <= 14
                ):
                    errors.append(f"ean {code!r} must have 6 to 14 digits")
        validation = 9 if attach else 1
        return {
            "id": offer_id,
            "part_number_key": str(pnk) if pnk else None,
            "category_id": item.get("category_id"),
            "vendor_category_id": item.get("vendor_category_id"),
            "brand": item.get("brand"),
            "name": name,
            "part_number": part_number or None,
            "description": item.get("description"),
            "url": item.get("url"),
            "warranty": item.get("warranty"),
            "ean": [str(e) for e in ean] if isinstance(ean, list) else [],
            "sale_price": None,
            "recommended_price": None,
            "min_sale_price": None,
            "max_sale_price": None,
            "currency": self.state.currency,
            "general_stock": 0,
            "estimated_stock": 0,
            "stock": [{"warehouse_id": 1, "value": 0}],
            "status": 1,
            "images": item.get("images") or [],
            "characteristics": item.get("characteristics") or [],
            "vat_id": None,
            "family": item.get("family"),
            "handling_time": [{"warehouse_id": 1, "value": 0}],
            "supply_lead_time": 14,
            "number_of_offers": 1,
            "buy_button_rank": 1,
            "best_offer_sale_price": None,
            "best_offer_recommended_price": None,
            "ownership": 1,
            "validation_status": [
                {
                    "value": validation,
                    "description": data.VALIDATION_DESCRIPTIONS[validation],
                    "errors": None,
                }
            ],
            "translation_validation_status": [
                {
                    "value": validation,
                    "description": data.VALIDATION_DESCRIPTIONS[validation],
                    "errors": None,
                }
            ],
            "offer_validation_status": {"value": 1, "description": "Valid"},
            "genius_eligibility": 0,
            "genius_eligibility_type": None,
            "genius_computed": 0,
            "emag_club": 1,
            "manufacturer": bool(item.get("manufacturer")),
            "eu_representative": bool(item.get("eu_representative")),
            "safety_information": item.get("safety_information"),
            "doc_errors": None,
            "auto_translated": 0,
            "start_date": None,
        }

    def product_offer_save(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """docs/emag-protocol.md, "Offers": create/update products and offers, at most 50 per
        request."""
        items = _list_payload(payload)
        messages: list[str] = []
        category_ids = {c["id"] for c in self.state.categories}
        for position, item in enumerate(items):
            errors: list[str] = []
            if not isinstance(item, dict):
                messages.append(f"Item {position}: must be an object")
                continue
            try:
                offer_id = as_int(item.get("id"), "id")
            except ApiError:
                messages.append(f"Item {position}: id is mandatory (1..{OFFER_ID_MAX})")
                continue
            if not 1 <= offer_id <= OFFER_ID_MAX:
                messages.append(f"Item {position}: id must be within 1..{OFFER_ID_MAX}")
                continue
            current = acc.get_offer(offer_id)
            first_save = current is None
            if first_save:
                base = self._new_offer_base(acc, offer_id, item, errors)
                for key in ("sale_price", "vat_id", "status"):
                    if item.get(key) in (None, ""):
                        errors.append(f"{key} is mandatory")
            else:
                assert current is not None
                base = current
                for key in ("status", "sale_price", "vat_id"):
                    if item.get(key) in (None, ""):
                        errors.append(f"{key} is mandatory")
                for key in (
                    "name",
                    "brand",
                    "description",
                    "url",
                    "warranty",
                    "images",
                    "characteristics",
                    "family",
                ):
                    if key in item:
                        base = {**base, key: item[key]}
            prices = self._check_prices(item, None if first_save else current, errors, first_save)
            offer = self._apply_offer_fields(item, base, prices, errors)
            if errors:
                messages.extend(f"Offer {offer_id}: {e}" for e in errors)
                continue
            doc_error = None
            if (
                first_save
                and item.get("category_id") not in (None, "")
                and not item.get("part_number_key")
            ):
                try:
                    category = as_int(item["category_id"], "category_id")
                except ApiError:
                    category = -1
                if category not in category_ids:
                    doc_error = "template does not exist in doc application"
                    offer["validation_status"] = [
                        {
                            "value": 8,
                            "description": data.VALIDATION_DESCRIPTIONS[8],
                            "errors": [doc_error],
                        }
                    ]
                    offer["doc_errors"] = [doc_error]
            acc.put_offer(offer)
            if doc_error:  # docs/emag-protocol.md, "Offers": isError true, yet the offer is saved
                messages.append(f"Offer {offer_id}: {doc_error}")
        if messages:
            return fail(messages)
        return ok([])

    def offer_save(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """The light offer API (docs/emag-protocol.md, "Offers"): updates existing offers only;
        per-item results keyed by id with the top-level ``isError`` false even when items fail."""
        items = _list_payload(payload)
        results: dict[str, Json] = {}
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                results[str(position)] = {"isError": True, "messages": ["Invalid offer"]}
                continue
            try:
                offer_id = as_int(item.get("id"), "id")
            except ApiError:
                results[str(item.get("id", position))] = {
                    "isError": True,
                    "messages": ["The id field is mandatory"],
                }
                continue
            key = str(offer_id)
            current = acc.get_offer(offer_id)
            if current is None:
                results[key] = {"isError": True, "messages": [f"Offer {offer_id} does not exist"]}
                continue
            errors: list[str] = []
            prices = self._check_prices(item, current, errors, first_save=False)
            offer = self._apply_offer_fields(item, current, prices, errors)
            if errors:
                results[key] = {"isError": True, "messages": errors}
                continue
            acc.put_offer(offer)
            competition.touched(acc, offer_id, self.clock())
            results[key] = {
                "isError": False,
                "messages": [f"Offer {offer_id} updated successfully"],
            }
        return ok(results)

    def offer_stock(self, acc: AccountState, payload: Any, params: dict[str, str]) -> Reply:
        """``PATCH offer_stock/{id}`` (docs/emag-protocol.md, "Offers") with ``{"stock": 21}``: 204,
        400 or 404 with Kong-style ``{"message": ...}`` bodies. The list forms of [MF]/[T451]
        contradict [DOC] and get 400."""
        try:
            offer_id = int(params["id"])
        except ValueError:
            return Reply(404, {"message": "This offer does not exist"})
        if not isinstance(payload, dict) or "stock" not in payload:
            return Reply(
                400,
                {
                    "message": "Validation errors in your request",
                    "errors": [{"message": "The stock field is mandatory.", "field": "stock"}],
                },
            )
        stock = payload["stock"]
        if isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= 65535:
            return Reply(
                400,
                {
                    "message": "Validation errors in your request",
                    "errors": [
                        {
                            "message": "The stock must be a whole number between 0 and 65535.",
                            "field": "stock",
                        }
                    ],
                },
            )
        current = acc.get_offer(offer_id)
        if current is None:
            return Reply(404, {"message": "This offer does not exist"})
        reserved = max(0, int(current["general_stock"]) - int(current["estimated_stock"]))
        offer = dict(current)
        offer["stock"] = [{"warehouse_id": 1, "value": stock}]
        offer["general_stock"] = stock
        offer["estimated_stock"] = max(0, stock - reserved)
        acc.put_offer(offer)
        return Reply(204, None)

    def measurements_save(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """docs/emag-protocol.md, "Offers": ``[{id, length, width, height, weight}]``, mm and g,
        0..999999 with 2 decimals."""
        items = _list_payload(payload)
        messages: list[str] = []
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                messages.append(f"Item {position}: must be an object")
                continue
            try:
                offer_id = as_int(item.get("id"), "id")
            except ApiError as exc:
                messages.append(f"Item {position}: {exc}")
                continue
            if not acc.offer_exists(offer_id):
                messages.append(f"Product {offer_id} does not exist")
                continue
            values: Json = {"id": offer_id}
            errors = []
            for key in ("length", "width", "height", "weight"):
                try:
                    number = as_number(item.get(key), key)
                except ApiError as exc:
                    errors.append(str(exc))
                    continue
                if not 0 <= number <= 999999 or _decimals(number) > 2:
                    errors.append(f"{key} must be between 0 and 999999 with at most 2 decimals")
                values[key] = float(number)
            if errors:
                messages.extend(f"Product {offer_id}: {e}" for e in errors)
                continue
            acc.measurements[offer_id] = values
        return fail(messages) if messages else ok([])

    def find_by_eans(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """docs/emag-protocol.md, "Offers": ``GET documentation/find_by_eans?eans[]=...``, up to 100
        EANs (the rest ignored with a message). Our catalog's EANs (and some foreign ones) resolve
        to products."""
        filters = _dict_payload(payload)
        raw = filters.get("eans", filters.get("eans[]", []))
        if isinstance(raw, dict):
            raw = list(raw.values())
        if isinstance(raw, str | int):
            raw = [str(v) for v in str(raw).split(",")]
        if not isinstance(raw, list) or not raw:
            return fail("The eans parameter is mandatory")
        messages = []
        if len(raw) > MAX_EANS:
            messages.append(f"Only the first {MAX_EANS} EANs were processed")
            raw = raw[:MAX_EANS]
        seed = self.state.seed
        catalog = 2 * max((a.n_offers for a in self.state.accounts.values()), default=0) + 10
        results: Json = {}
        for code in (str(c).strip() for c in raw):
            products = []
            index = data.ean_index(seed, code)
            if index is not None and index < catalog:
                pnk = data.product_pnk(seed, index)
                category = data.product_category(index, self.state.config.categories)
                products.append(
                    {
                        "ean": code,
                        "part_number_key": pnk,
                        "product_name": data.product_name(seed, index),
                        "brand_name": data.product_brand(index),
                        "doc_category_id": category,
                        "site_url": f"http://emag.{self.state.market}/product_details/pd/{pnk}",
                        "category_name": data.CATEGORY_WORDS[category % len(data.CATEGORY_WORDS)],
                        "allowed_to_add_offer": True,
                        "vendor_has_offer": index < acc.n_offers,
                        "hotness": ("COLD", "SUPER COLD", "WARM", None)[index % 4],
                        "product_image": f"https://magflow-sim.invalid/img/{index + 1}-1.jpg",
                    }
                )
            elif code.isdigit() and int(code) % 5 == 0:
                pnk = "DF" + code[-7:]
                products.append(
                    {
                        "ean": code,
                        "part_number_key": pnk,
                        "product_name": f"Produs {code}",
                        "brand_name": "Generic",
                        "doc_category_id": 100,
                        "site_url": f"http://emag.{self.state.market}/product_details/pd/{pnk}",
                        "category_name": data.CATEGORY_WORDS[0],
                        "allowed_to_add_offer": int(code) % 2 == 0,
                        "vendor_has_offer": False,
                        "hotness": None,
                        "product_image": None,
                    }
                )
            results[code] = {"products": products}
        return ok(results, messages)

    # --- reference data (docs/emag-protocol.md, "Offers", "AWBs and couriers") --------------------

    def category_read(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        filters = _dict_payload(payload)
        page, per_page = page_args(filters)
        cats = self.state.categories
        if filters.get("id") not in (None, ""):
            cid = as_int(filters["id"], "id")
            cats = [c for c in cats if c["id"] == cid]
            return ok([{**c, **data.category_details(self.state.seed, cid)} for c in cats])
        return ok(cats[(page - 1) * per_page : page * per_page])

    def category_count(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        filters = _dict_payload(payload)
        _page, per_page = page_args(filters)
        n = len(self.state.categories)
        if filters.get("id") not in (None, ""):
            cid = as_int(filters["id"], "id")
            n = sum(1 for c in self.state.categories if c["id"] == cid)
        return ok(count_result(n, per_page))

    def vat_read(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """docs/emag-protocol.md, "Offers": ``vat_rate`` is a fraction."""
        return ok(
            [
                {"vat_id": vid, "vat_rate": rate, "is_default": default}
                for vid, rate, default in data.VAT_RATES[self.state.market]
            ]
        )

    def handling_time_read(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        return ok([{"id": v, "value": v, "name": f"{v} zile"} for v in data.HANDLING_TIMES])

    def courier_accounts_read(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """docs/emag-protocol.md, "AWBs and couriers"."""
        return ok(
            [
                {
                    "account_id": cid,
                    "account_display_name": display,
                    "courier_account_type": ctype,
                    "courier_name": courier,
                    "courier_account_properties": props,
                    "created": "2023-03-01 09:00:00",
                    "status": 1,
                    "pickup_country_code": self.state.country,
                }
                for cid, display, courier, ctype, props in data.COURIERS
            ]
        )

    def _localities(self, filters: Json) -> list[Json]:
        country = str(filters.get("country_code") or self.state.country).upper()
        rows = self.state.localities(country)
        if filters.get("emag_id") not in (None, ""):
            wanted = as_int_set(filters["emag_id"], "emag_id")
            rows = [r for r in rows if r["emag_id"] in wanted]
        if filters.get("name") not in (None, ""):
            needle = str(filters["name"]).lower()
            rows = [r for r in rows if needle in r["name"].lower()]
        if filters.get("region2") not in (None, ""):
            region = str(filters["region2"]).lower()
            rows = [r for r in rows if str(r["region2"]).lower() == region]
        return rows

    def locality_read(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """docs/emag-protocol.md, "AWBs and couriers": without ``country_code`` only the platform
        country's localities."""
        filters = _dict_payload(payload)
        page, per_page = page_args(filters)
        return ok(self._localities(filters)[(page - 1) * per_page : page * per_page])

    def locality_count(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        filters = _dict_payload(payload)
        _page, per_page = page_args(filters)
        return ok(count_result(len(self._localities(filters)), per_page))

    # --- RMA (docs/emag-protocol.md, "Returns") ---------------------------------------------------

    def _rmas(self, acc: AccountState, filters: Json) -> list[Json]:
        indices = acc.rma_indices()
        out = []
        wanted_ids: frozenset[int] | None = None
        for key in ("emag_id", "id"):
            if filters.get(key) not in (None, ""):
                wanted_ids = as_int_set(filters[key], key)
        order_ids = (
            as_int_set(filters["order_id"], "order_id")
            if filters.get("order_id") not in (None, "")
            else None
        )
        types = (
            as_int_set(filters["type"], "type") if filters.get("type") not in (None, "") else None
        )
        statuses = (
            as_int_set(filters["request_status"], "request_status")
            if filters.get("request_status") not in (None, "")
            else None
        )
        product_ids = (
            as_int_set(filters["product_id"], "product_id")
            if filters.get("product_id") not in (None, "")
            else None
        )
        start = self._date(filters, "date_start")
        end = self._date(filters, "date_end")
        for idx in indices:
            if wanted_ids is not None and acc.rma_base + idx not in wanted_ids:
                continue
            if order_ids is not None and acc.order_base + idx not in order_ids:
                continue
            if types is not None and acc.otype[idx] not in types:
                continue
            ts = acc.modified[idx]
            if (start is not None and ts < start) or (end is not None and ts > end):
                continue
            rma = acc.get_rma(idx)
            if statuses is not None and rma["request_status"] not in statuses:
                continue
            if product_ids is not None and not any(
                p["product_id"] in product_ids for p in rma["products"]
            ):
                continue
            out.append(rma)
        return out

    def rma_read(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        filters = _dict_payload(payload)
        page, per_page = page_args(filters)
        return ok(self._rmas(acc, filters)[(page - 1) * per_page : page * per_page])

    def rma_count(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        filters = _dict_payload(payload)
        _page, per_page = page_args(filters)
        return ok(count_result(len(self._rmas(acc, filters)), per_page))

    # --- orders (docs/emag-protocol.md, "Paging, counts and filters", "Orders") -------------------

    def _date(self, filters: Json, key: str) -> float | None:
        value = filters.get(key)
        if value in (None, ""):
            return None
        try:
            return parse_local(value, self.state.tz)
        except (ValueError, TypeError):
            raise ApiError(f"Invalid date for {key}: expected YYYY-mm-dd HH:ii:ss") from None

    def _order_filter(self, filters: Json) -> OrderFilter:
        """docs/emag-protocol.md, "Paging, counts and filters": ``type`` defaults to 3, so FBE
        orders (type 2) need ``type: 2`` (docs/emag-protocol.md, "Orders")."""

        def opt_set(key: str) -> frozenset[int] | None:
            value = filters.get(key)
            return None if value in (None, "", []) else as_int_set(value, key)

        types = opt_set("type") or frozenset({3})
        is_complete = filters.get("is_complete")
        bounds = {
            key: self._date(filters, key)
            for key in ("createdAfter", "createdBefore", "modifiedAfter", "modifiedBefore")
        }
        for after, before in (
            ("createdAfter", "createdBefore"),
            ("modifiedAfter", "modifiedBefore"),
        ):
            start, stop = bounds[after], bounds[before]
            if (start is None) != (stop is None):
                # [DOC] for count: each bound "can only be set if the other is present"; its read
                # table relaxes the After bound, which is UNCERTAIN, so the simulator takes the
                # strict reading on both (docs/emag-protocol.md, "Paging, counts and filters").
                given, missing = (after, before) if stop is None else (before, after)
                raise ApiError(f"{given} can only be set if {missing} is present")
            if start is not None and stop is not None and stop > self._month_later(start):
                raise ApiError(f"Maximum 1 month difference between {after} and {before}")
        return OrderFilter(
            ids=opt_set("id"),
            statuses=opt_set("status"),
            types=types,
            payment_modes=opt_set("payment_mode_id"),
            is_complete=None if is_complete in (None, "") else as_int(is_complete, "is_complete"),
            created_after=bounds["createdAfter"],
            created_before=bounds["createdBefore"],
            modified_after=bounds["modifiedAfter"],
            modified_before=bounds["modifiedBefore"],
        )

    def _month_later(self, epoch: float) -> float:
        """The same platform-local wall time one calendar month later (the day clamped to the
        month's last: 31 Jan -> 28/29 Feb): the widest order filter eMAG accepts between two date
        bounds (docs/emag-protocol.md, "Paging, counts and filters")."""
        local = datetime.fromtimestamp(epoch, self.state.tz)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        day = min(local.day, calendar.monthrange(year, month)[1])
        return local.replace(year=year, month=month, day=day).timestamp()

    def order_read(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        filters = _dict_payload(payload)
        page, per_page = page_args(filters)
        indices = acc.order_indices(self._order_filter(filters))
        return ok([acc.get_order(i) for i in indices[(page - 1) * per_page : page * per_page]])

    def order_count(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        filters = _dict_payload(payload)
        _page, per_page = page_args(filters)
        return ok(count_result(len(acc.order_indices(self._order_filter(filters))), per_page))

    def _order_for_write(self, acc: AccountState, raw_id: Any) -> tuple[int, Json]:
        order_id = as_int(raw_id, "order id")
        idx = acc.order_index(order_id)
        if idx is None:
            raise ApiError(f"Order {order_id} does not exist")
        return idx, acc.get_order(idx)

    def order_acknowledge(self, acc: AccountState, payload: Any, params: dict[str, str]) -> Reply:
        """docs/emag-protocol.md, "Orders": the only way from status 1 to 2; seller-fulfilled (type
        3) orders only."""
        idx, order = self._order_for_write(acc, params["id"])
        if order["type"] != 3:
            return fail(f"Order {order['id']} is fulfilled by eMAG and cannot be acknowledged")
        if order["status"] == 1:
            acc.set_order_status(idx, 2, self.clock())
        elif order["status"] != 2:
            return fail(
                f"Order {order['id']} cannot be acknowledged: its status is {order['status']}"
            )
        return ok([])

    def _transition_error(self, acc: AccountState, idx: int, cur: int, new: int) -> str | None:
        """eMAG's order status matrix (rows current, columns new;
        docs/emag-protocol.md, "Orders")."""
        if new not in (0, 1, 2, 3, 4, 5):
            return f"Invalid status {new}"
        if cur == 1:
            if new == 2:
                return "Status 1 can only be changed to 2 by acknowledging the order (acknowledge)"
            return f"Status cannot be changed from {cur} to {new}"
        elapsed = self.clock() - acc.order_status_since(idx)
        allowed: dict[int, dict[int, float]] = {
            # new status → max seconds since the current status was set (inf: always)
            2: {2: math.inf, 3: math.inf, 4: math.inf, 0: math.inf},
            3: {3: math.inf, 4: math.inf, 0: math.inf},
            4: {4: math.inf, 3: 2 * DAY, 0: 2 * DAY, 5: (RETURN_DAYS + 5) * DAY},
            0: {0: math.inf, 2: 2 * DAY, 3: 2 * DAY, 4: 2 * DAY},
            5: {},
        }
        limit = allowed.get(cur, {}).get(new)
        if limit is None:
            return f"Status cannot be changed from {cur} to {new}"
        if elapsed > limit:
            return f"Status cannot be changed from {cur} to {new} after {int(limit // 3600)} hours"
        return None

    def _plan_order_save(
        self, acc: AccountState, item: Any, now: float
    ) -> tuple[int, int, list[Json], bool, Json]:
        """Validate one order of order/save; returns (idx, new status, new lines, is_storno, the
        other fields taken as sent)."""
        if not isinstance(item, dict):
            raise ApiError("Each order must be an object")
        if item.get("id") in (None, ""):
            raise ApiError("The order id is mandatory")
        idx, current = self._order_for_write(acc, item["id"])
        oid = current["id"]
        if current["type"] != 3:
            raise ApiError(f"Order {oid}: orders fulfilled by eMAG (type 2) are read-only")
        missing = [f for f in REQUIRED_ORDER_FIELDS if f not in item]
        if missing:
            raise ApiError(
                f"Order {oid}: send the whole order as read; missing fields: {', '.join(missing)}"
            )
        new_status = as_int(item["status"], "status")
        cur = int(current["status"])
        problem = self._transition_error(acc, idx, cur, new_status)
        if problem:
            raise ApiError(f"Order {oid}: {problem}")
        sent = item["products"]
        if isinstance(sent, dict):
            sent = list(sent.values())
        if not isinstance(sent, list):
            raise ApiError(f"Order {oid}: products must be a list")
        existing = {int(line["id"]): line for line in current["products"]}
        seen: set[int] = set()
        lines: list[Json] = []
        changed = added = increased = reduced = False
        for line in sent:
            if not isinstance(line, dict):
                raise ApiError(f"Order {oid}: each product must be an object")
            if line.get("id") in (None, ""):
                for key in ("product_id", "name", "status", "sale_price"):
                    if line.get(key) in (None, ""):
                        raise ApiError(f"Order {oid}: a new product line needs {key}")
                qty = as_int(line.get("quantity", 1), "quantity")
                if qty < 0:
                    raise ApiError(f"Order {oid}: quantity cannot be negative")
                lines.append(
                    {
                        **line,
                        "product_id": as_int(line["product_id"], "product_id"),
                        "quantity": qty,
                        "initial_qty": qty,
                        "status": as_int(line["status"], "status"),
                        "sale_price": f"{as_number(line['sale_price'], 'sale_price'):.4f}",
                        "currency": self.state.currency,
                    }
                )
                added = changed = True
                continue
            line_id = as_int(line["id"], "product line id")
            old = existing.get(line_id)
            if old is None:
                raise ApiError(f"Order {oid}: product line {line_id} does not exist")
            seen.add(line_id)
            for key in ("product_id", "part_number", "ext_part_number"):
                if key in line and str(line[key]) != str(old.get(key)):
                    raise ApiError(f"Order {oid}: {key} of line {line_id} cannot be changed")
            if "sale_price" in line and as_number(line["sale_price"], "sale_price") != as_number(
                old["sale_price"], "sale_price"
            ):
                raise ApiError(f"Order {oid}: prices cannot be changed (line {line_id})")
            qty = as_int(line.get("quantity", old["quantity"]), "quantity")
            if qty < 0:
                raise ApiError(f"Order {oid}: quantity cannot be negative")
            status = as_int(line.get("status", old["status"]), "status")
            old_qty = int(old["quantity"])
            if qty != old_qty or status != int(old["status"]):
                changed = True
                if qty > old_qty or (status == 1 and int(old["status"]) == 0):
                    increased = True
                if qty < old_qty or (status == 0 and int(old["status"]) == 1):
                    reduced = True
            lines.append({**old, "quantity": qty, "status": status})
        for line_id, old in existing.items():
            if line_id not in seen:  # an omitted line is removed (docs/emag-protocol.md, "Orders")
                if int(old["status"]) == 1:
                    changed = reduced = True
                lines.append({**old, "status": 0})
        is_storno = bool(item.get("is_storno")) and item.get("is_storno") not in ("0", "false")
        if is_storno:
            if cur != 4:
                raise ApiError(
                    f"Order {oid}: is_storno is only allowed on finalized orders (status 4)"
                )
            if not changed:
                raise ApiError(f"Order {oid}: is_storno sent without any product change")
            if added or increased:
                raise ApiError(f"Order {oid}: a storno can only reduce quantities or cancel lines")
        elif changed:
            if cur == 4:
                raise ApiError(f"Order {oid}: a finalized order can only be changed with is_storno")
            if cur not in (2, 3):
                raise ApiError(f"Order {oid}: products can only be edited in status 2 or 3")
            if reduced and int(current["payment_mode_id"]) == 3:
                raise ApiError(
                    f"Order {oid}: quantities cannot be reduced nor products removed on orders "
                    "paid online by card"
                )
        return idx, new_status, lines, is_storno, _taken_as_sent(current, item)

    def order_save(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """``order/save`` (docs/emag-protocol.md, "Orders"); all orders of the request are validated
        before any is applied. The order is taken as sent ("send ALL the fields initially
        read"): status, lines, and the customer's contact and address fields and ``observation``
        too, so a stale copy undoes what changed on eMAG since it was read."""
        items = _list_payload(payload)
        now = self.clock()
        plans = []
        messages = []
        for item in items:
            try:
                plans.append(self._plan_order_save(acc, item, now))
            except ApiError as exc:
                messages.append(str(exc))
        if messages:
            return fail(messages)
        for idx, status, lines, is_storno, taken in plans:
            order = acc.materialize_order(idx)
            order.update(taken)
            old_lines = {int(line["id"]): line for line in order["products"]}
            for line in lines:
                if line.get("id") in (None, ""):
                    self.state.line_counter += 1
                    line["id"] = 9_000_000_000 + self.state.line_counter
                elif is_storno:
                    old = old_lines[int(line["id"])]
                    line["storno_qty"] = int(old.get("storno_qty", 0)) + max(
                        0, int(old["quantity"]) - int(line["quantity"])
                    )
            order["products"] = lines
            if is_storno:
                order["is_storno"] = True
            acc.set_order_status(idx, status, now)
        return ok([])

    def order_attachments_save(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """``order/attachments/save`` (docs/emag-protocol.md, "Attachments and invoices"): the only
        write allowed on FBE (type 2) orders. PDF URLs only; at most one warranty per product line.
        An attachment with the same URL is replaced."""
        items = _list_payload(payload)
        plans: list[tuple[int, Json]] = []
        messages = []
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise ApiError("Each attachment must be an object")
                if item.get("order_id") in (None, ""):
                    raise ApiError("order_id is mandatory")
                if item.get("order_type") in (None, ""):
                    raise ApiError("order_type is mandatory")
                idx, order = self._order_for_write(acc, item["order_id"])
                order_type = as_int(item["order_type"], "order_type")
                if order_type != order["type"]:
                    raise ApiError(f"Order {order['id']} is not of type {order_type}")
                name = str(item.get("name") or "")
                if not 1 <= len(name) <= 60:
                    raise ApiError("name must have 1 to 60 characters")
                url = str(item.get("url") or "")
                if not url or len(url) > 1024:
                    raise ApiError("url is mandatory (at most 1024 characters)")
                if not url.split("?")[0].split("#")[0].lower().endswith(".pdf"):
                    raise ApiError("Only PDF attachments are accepted")
                a_type = as_int(item.get("type", 1), "type")
                if a_type not in ATTACHMENT_TYPES:
                    raise ApiError(f"Invalid attachment type {a_type}")
                attachment: Json = {
                    "name": name,
                    "url": url,
                    "type": a_type,
                    "force_download": as_int(item.get("force_download", 0), "force_download"),
                    "visibility": 1,
                }
                if a_type == 3:
                    if item.get("order_product_id") in (None, ""):
                        raise ApiError("order_product_id is mandatory for warranties")
                    line_id = as_int(item["order_product_id"], "order_product_id")
                    lines = {int(line["id"]) for line in order["products"]}
                    if line_id not in lines:
                        raise ApiError(
                            f"Product line {line_id} does not exist on order {order['id']}"
                        )
                    attachment["order_product_id"] = line_id
                    taken = [
                        a
                        for a in order["attachments"]
                        if a.get("type") == 3
                        and a.get("order_product_id") == line_id
                        and a["url"] != url
                    ]
                    if taken:
                        raise ApiError(f"Product line {line_id} already has a warranty")
                plans.append((idx, attachment))
            except ApiError as exc:
                messages.append(str(exc))
        if messages:
            return fail(messages)
        for idx, attachment in plans:
            order = acc.materialize_order(idx)
            order["attachments"] = [
                a for a in order["attachments"] if a["url"] != attachment["url"]
            ]
            order["attachments"].append(attachment)
            acc.changed()
        return ok([])

    def order_unlock_courier(
        self, acc: AccountState, payload: Any, params: dict[str, str]
    ) -> Reply:
        """``order/{id}/unlock-courier`` (4.4.7; docs/emag-protocol.md, "Uncertainties"): accepted
        on type 3 orders, no state change."""
        _idx, order = self._order_for_write(acc, params["id"])
        if order["type"] != 3:
            return fail(f"Order {order['id']} is fulfilled by eMAG")
        return ok([])

    # --- AWB (docs/emag-protocol.md, "AWBs and couriers") -----------------------------------------

    def _check_phone(self, party: Json, key: str, role: str, required: bool) -> None:
        """docs/emag-protocol.md, "AWBs and couriers": 8 to 11 digits, an optional leading ``+``,
        nothing else (no spaces, dashes or parentheses)."""
        phone = str(party.get(key) or "")
        if not phone and not required:
            return
        digits = phone[1:] if phone.startswith("+") else phone
        if not (digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 11):
            raise ApiError(f"{role}.{key} must have 8 to 11 digits, with an optional leading +")

    def _check_party(self, acc: AccountState, party: Any, role: str) -> None:
        """A sender or receiver. With an ``address_id`` (4.4.9), the saved address replaces the
        address fields (locality, street, zipcode) and must be one of the account's
        (``addresses/read``); the name, contact and phone are still required (the stricter
        reading of docs/emag-protocol.md, "Uncertainties")."""
        if not isinstance(party, dict):
            raise ApiError(f"{role} is mandatory")
        for key, lo in (("name", 3), ("contact", 1)):
            value = str(party.get(key) or "")
            if not lo <= len(value) <= 255:
                raise ApiError(f"{role}.{key} must have {lo} to 255 characters")
        self._check_phone(party, "phone1", role, required=True)
        self._check_phone(party, "phone2", role, required=False)
        if party.get("address_id") not in (None, ""):
            known = {a["address_id"] for a in acc.addresses}
            if str(party["address_id"]) not in known:
                raise ApiError(f"{role}.address_id {party['address_id']} does not exist")
            return
        street = str(party.get("street") or "")
        if not 3 <= len(street) <= 255:
            raise ApiError(f"{role}.street must have 3 to 255 characters")
        if party.get("locality_id") in (None, ""):
            raise ApiError(f"{role}.locality_id is mandatory")

    def awb_save(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """docs/emag-protocol.md, "AWBs and couriers": one AWB; issuing the first AWB of an order
        moves it to status 4 (docs/emag-protocol.md, "AWBs and couriers")."""
        body = _dict_payload(payload)
        if not body:
            raise ApiError("No data sent")
        order_idx = None
        rma_id = None
        if body.get("order_id") not in (None, ""):
            order_idx, order = self._order_for_write(acc, body["order_id"])
            if order["type"] != 3:
                raise ApiError(f"Order {order['id']} is fulfilled by eMAG")
            if order["status"] == 1:
                raise ApiError(f"Order {order['id']} must be acknowledged before issuing an AWB")
            if order["status"] not in (2, 3, 4):
                raise ApiError(f"An AWB cannot be issued for an order in status {order['status']}")
        elif body.get("rma_id") not in (None, ""):
            rma_id = as_int(body["rma_id"], "rma_id")
            idx = rma_id - acc.rma_base
            if not (0 <= idx < acc.n_orders and acc.status[idx] == 5):
                raise ApiError(f"RMA {rma_id} does not exist")
            if body.get("date") in (None, ""):
                raise ApiError("date is mandatory for returns")
        else:
            raise ApiError("order_id or rma_id is mandatory")
        self._check_party(acc, body.get("sender"), "sender")
        self._check_party(acc, body.get("receiver"), "receiver")
        for key in ("is_oversize", "cod"):
            if body.get(key) in (None, ""):
                raise ApiError(f"{key} is mandatory")
        if as_int(body["is_oversize"], "is_oversize") not in (0, 1):
            raise ApiError("is_oversize must be 0 or 1")
        if as_number(body["cod"], "cod") < 0:
            raise ApiError("cod cannot be negative")
        envelopes = as_int(body.get("envelope_number") or 0, "envelope_number")
        parcels = as_int(body.get("parcel_number") or 0, "parcel_number")
        if envelopes == 0 and parcels == 0:
            raise ApiError("envelope_number and parcel_number cannot both be 0")
        if not (0 <= envelopes <= 9999 and 0 <= parcels <= 999):
            raise ApiError("envelope_number must be 0..9999 and parcel_number 0..999")
        couriers = {c[0]: c for c in data.COURIERS}
        courier_id = as_int(
            body.get("courier_account_id") or data.COURIERS[0][0], "courier_account_id"
        )
        if courier_id not in couriers:
            raise ApiError(f"Courier account {courier_id} does not exist")
        # courier_account_type: 1 returns only, 2 orders only, 3 both (docs/emag-protocol.md,
        # "AWBs and couriers")
        if couriers[courier_id][3] == (1 if order_idx is not None else 2):
            kind = "orders" if order_idx is not None else "returns"
            raise ApiError(f"Courier account {courier_id} cannot be used for {kind}")
        if order_idx is not None:
            # docs/emag-protocol.md, "Orders": null = any courier, a list = one of them, [] = no
            # AWB through the marketplace.
            enforced = acc.get_order(order_idx).get("enforced_vendor_courier_accounts")
            if enforced is not None and not enforced:
                raise ApiError(
                    f"Order {acc.order_base + order_idx}: AWBs cannot be issued from the "
                    "marketplace for this order"
                )
            if enforced and courier_id not in enforced:
                allowed = ", ".join(str(c) for c in enforced)
                raise ApiError(
                    f"Order {acc.order_base + order_idx} must use one of the courier accounts "
                    f"{allowed}"
                )
        state = self.state
        state.awb_counter += 1
        state.reservation_counter += 1
        emag_id, reservation = state.awb_counter, state.reservation_counter
        number = f"4EMGSIM{emag_id:010d}"
        awbs = [{"emag_id": emag_id, "awb_number": number, "awb_barcode": number + "001"}]
        courier = couriers[courier_id]
        record = {
            "emag_id": emag_id,
            "reservation_id": reservation,
            "order_id": acc.order_base + order_idx if order_idx is not None else None,
            "rma_id": rma_id,
            "type": 3,
            "weight": body.get("weight"),
            "awb_type": 2 if rma_id else 1,
            "awb": awbs,
            "status": {"code": "NEW", "name": "New", "description": "AWB generated"},
            "courier": {
                "courier_account_id": courier_id,
                "courier_name": courier[2],
                "courier_id": courier_id,
            },
        }
        acc.awbs[emag_id] = record
        if order_idx is not None:
            state.notify("awb", acc, {"id": acc.order_base + order_idx, "awb": emag_id})
        if order_idx is not None and acc.status[order_idx] != 4:
            acc.set_order_status(order_idx, 4, self.clock())
        mode = self.state.config.awb_answer
        if mode == "reservation" or (mode == "alternate" and reservation % 2 == 1):
            # docs/emag-protocol.md, "AWBs and couriers": the number must be read back by
            # reservation_id.
            return ok({"reservation_id": reservation})
        return ok(
            {
                "reservation_id": reservation,
                "courier_id": courier_id,
                "courier_name": courier[2],
                "awb": awbs,
            }
        )

    def awb_read(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        filters = _dict_payload(payload)
        if filters.get("emag_id") not in (None, ""):
            found = acc.awbs.get(as_int(filters["emag_id"], "emag_id"))
            return ok([found] if found else [])
        if filters.get("reservation_id") not in (None, ""):
            reservation = as_int(filters["reservation_id"], "reservation_id")
            return ok([a for a in acc.awbs.values() if a["reservation_id"] == reservation])
        return fail("emag_id or reservation_id is mandatory")

    def _label_awb(self, acc: AccountState, payload: Any) -> Json:
        """The AWB a label is asked for: ``emag_id`` is required and must be one of this
        account's AWBs issued through the API (docs/emag-protocol.md, "AWBs and couriers")."""
        params = _dict_payload(payload)
        if params.get("emag_id") in (None, ""):
            raise ApiError("emag_id is mandatory")
        found = acc.awbs.get(as_int(params["emag_id"], "emag_id"))
        if found is None:
            raise ApiError(f"AWB {params['emag_id']} does not exist")
        return found

    def awb_read_pdf(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """``GET awb/read_pdf?emag_id=…&awb_format=A4|A5|A6|ZPL``: the document's bytes (a PDF;
        the ZPL text for ``ZPL``), errors as JSON envelopes (docs/emag-protocol.md, "AWBs and
        couriers"). ``awb_format`` is required: no default is documented."""
        awb = self._label_awb(acc, payload)
        paper = str(_dict_payload(payload).get("awb_format") or "")
        number = awb["awb"][0]["awb_number"]
        courier = awb["courier"]["courier_name"]
        if paper == "ZPL":
            zpl = labels.label_zpl(number, courier).encode()
            return Reply(200, zpl, media_type="text/plain")
        if paper not in labels.PAGE_SIZES:
            raise ApiError("awb_format must be one of A4, A5, A6, ZPL")
        return Reply(200, labels.label_pdf(number, courier, paper), media_type="application/pdf")

    def awb_read_zpl(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """``GET awb/read_zpl?emag_id=…``: base64 ZPL in ``results.deliveries.{n}.awbs.content``
        (docs/emag-protocol.md, "AWBs and couriers"); ``deliveries`` keyed by number as PHP
        serialises it (docs/emag-protocol.md, "PHP serialization quirks")."""
        awb = self._label_awb(acc, payload)
        zpl = labels.label_zpl(awb["awb"][0]["awb_number"], awb["courier"]["courier_name"])
        content = base64.b64encode(zpl.encode()).decode()
        return ok({"deliveries": {"0": {"awbs": {"content": [content]}}}})

    def addresses_read(self, acc: AccountState, payload: Any, _p: dict[str, str]) -> Reply:
        """``addresses/read`` (4.4.9, docs/emag-protocol.md, "AWBs and couriers")."""
        return ok([dict(a) for a in acc.addresses])
