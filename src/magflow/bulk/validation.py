"""Local validation of one offer change against the rules of docs/emag-protocol.md, "Offers".

Checked before anything is sent, with the stored offer's values standing in for fields the item
does not change (eMAG keeps them too):

- prices (without VAT, docs/emag-protocol.md, "Offers") are numbers > 0 with at most 4 decimals;
- ``max_sale_price`` > ``min_sale_price``; ``sale_price`` within [min, max];
- ``recommended_price`` > ``sale_price`` (the promo price must be above the sale price);
- ``stock`` is a whole number 0..65535 ("Decimals are not allowed"); ``handling_time`` 0..255 days;
- ``status`` is 0, 1 or 2; ``vat_id`` a positive integer (whether it exists is eMAG's call);
- at least one field changes.

An empty value (None, "") means "not changed": a CSV cell left blank changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from magflow.emag.codes import OfferStatus

PRICE_FIELDS = ("sale_price", "min_sale_price", "max_sale_price", "recommended_price")
FIELDS = (*PRICE_FIELDS, "stock", "handling_time", "status", "vat_id")
MAX_STOCK = 65535
MAX_HANDLING_TIME = 255
MAX_PRICE = Decimal("99999999")


@dataclass(frozen=True)
class CurrentPrices:
    sale_price: Decimal | None = None
    min_sale_price: Decimal | None = None
    max_sale_price: Decimal | None = None
    recommended_price: Decimal | None = None


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _price(name: str, value: Any, errors: list[str]) -> Decimal | None:
    if isinstance(value, bool):
        errors.append(f"{name} must be a number")
        return None
    try:
        number = Decimal(
            str(value).strip().replace(",", ".") if isinstance(value, str) else str(value)
        )
    except (InvalidOperation, ValueError):
        errors.append(f"{name} must be a number, got {value!r}")
        return None
    if not number.is_finite():
        errors.append(f"{name} must be a number, got {value!r}")
        return None
    if number <= 0:
        errors.append(f"{name} must be greater than 0")
        return None
    if number > MAX_PRICE:
        errors.append(f"{name} is too large")
        return None
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        errors.append(f"{name} can have at most 4 decimals")
        return None
    return number


def whole_number(name: str, value: Any, low: int, high: int, errors: list[str]) -> int | None:
    """A whole number in [low, high]; "5", 5 and 5.0 are 5, 5.5 and "five" are errors."""
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if value.is_integer() else None
    elif isinstance(value, Decimal | str):
        try:
            parsed = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            parsed = None
        if parsed is not None and parsed.is_finite() and parsed == parsed.to_integral_value():
            number = int(parsed)
    if number is None:
        errors.append(f"{name} must be a whole number (no decimals), got {value!r}")
        return None
    if number < low:
        errors.append(f"{name} should be {low} or more")
        return None
    if number > high:
        errors.append(f"{name} should be at most {high}")
        return None
    return number


def validate_changes(
    item: dict[str, Any], current: CurrentPrices | None
) -> tuple[dict[str, Any], list[str]]:
    """The normalised changes of ``item`` (prices as Decimal, the rest as int) and the errors."""
    errors: list[str] = []
    changes: dict[str, Any] = {}
    for name in PRICE_FIELDS:
        if not blank(item.get(name)):
            number = _price(name, item[name], errors)
            if number is not None:
                changes[name] = number
    if not blank(item.get("stock")):
        stock = whole_number("stock", item["stock"], 0, MAX_STOCK, errors)
        if stock is not None:
            changes["stock"] = stock
    if not blank(item.get("handling_time")):
        handling = whole_number(
            "handling_time", item["handling_time"], 0, MAX_HANDLING_TIME, errors
        )
        if handling is not None:
            changes["handling_time"] = handling
    if not blank(item.get("status")):
        status = whole_number("status", item["status"], min(OfferStatus), max(OfferStatus), errors)
        if status is not None:
            changes["status"] = status
    if not blank(item.get("vat_id")):
        vat_id = whole_number("vat_id", item["vat_id"], 1, 2**31 - 1, errors)
        if vat_id is not None:
            changes["vat_id"] = vat_id
    if errors:
        return changes, errors
    if not changes:
        return changes, [f"nothing to change: give at least one of {', '.join(FIELDS)}"]
    if any(name in changes for name in PRICE_FIELDS):
        base = current or CurrentPrices()
        sale = changes.get("sale_price", base.sale_price)
        low = changes.get("min_sale_price", base.min_sale_price)
        high = changes.get("max_sale_price", base.max_sale_price)
        recommended = changes.get("recommended_price", base.recommended_price)
        if low is not None and high is not None and high <= low:
            errors.append(f"max_sale_price {high} must be greater than min_sale_price {low}")
        if sale is not None and low is not None and sale < low:
            errors.append(f"sale_price {sale} is lower than min_sale_price {low}")
        if sale is not None and high is not None and sale > high:
            errors.append(f"sale_price {sale} is greater than max_sale_price {high}")
        if recommended is not None and sale is not None and recommended <= sale:
            errors.append(f"recommended_price {recommended} must be greater than sale_price {sale}")
    return changes, errors


def published_stock(stock: int, buffer: int) -> int:
    """What eMAG is told: the stock minus the account's buffer, never below 0."""
    return max(0, stock - max(0, buffer))


def offer_payload(
    emag_id: int, changes: dict[str, Any], stock_buffer: int, warehouse_id: int = 1
) -> dict[str, Any]:
    """The light ``offer/save`` item (docs/emag-protocol.md, "Offers"): ``stock``/``handling_time``
    as warehouse lists (docs/emag-protocol.md, "Offers") for the account's ``warehouse_id`` (a
    per-account setting, 1 by default), prices as numbers."""
    payload: dict[str, Any] = {"id": emag_id}
    for name in PRICE_FIELDS:
        if name in changes:
            value = Decimal(str(changes[name]))
            payload[name] = int(value) if value == value.to_integral_value() else float(value)
    if "stock" in changes:
        payload["stock"] = [
            {
                "warehouse_id": warehouse_id,
                "value": published_stock(int(changes["stock"]), stock_buffer),
            }
        ]
    if "handling_time" in changes:
        payload["handling_time"] = [
            {"warehouse_id": warehouse_id, "value": int(changes["handling_time"])}
        ]
    for name in ("status", "vat_id"):
        if name in changes:
            payload[name] = int(changes[name])
    return payload


def jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    """Changes as stored (JSON): Decimals as strings, exactly as given."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in changes.items()}
