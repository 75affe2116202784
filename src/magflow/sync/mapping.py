"""eMAG payloads (as read, PHP quirks and all) to table rows.

eMAG serialises numbers as strings, empty objects as ``[]`` and often sends nulls
(EMAG_API.md §6 gotcha 16); every reader here accepts all of those.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from magflow.emag.dates import parse_emag_datetime

ZERO = Decimal(0)


def to_int(value: Any) -> int | None:
    if type(value) is int:  # the common cases first: a sync calls this a dozen times per row
        return value
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            pass  # "12.0", "" and junk are handled below
    if value is None or value == "" or isinstance(value, (list, dict, bool)):
        return None
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def to_decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, (list, dict, bool)):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def to_dict(value: Any) -> dict[str, Any] | None:
    """``[]`` (PHP's empty array) and null become None."""
    return value if isinstance(value, dict) and value else None


def to_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):  # PHP arrays with numeric keys sometimes arrive as objects
        return list(value.values())
    return []


def to_datetime(value: Any, tz: tzinfo) -> datetime | None:
    try:
        return parse_emag_datetime(value, tz)
    except ValueError:
        return None


def _status_value(value: Any) -> int | None:
    """``{value, description}``, a list of them (validation_status, §5.2) or a bare number."""
    if isinstance(value, list):
        return _status_value(value[0]) if value else None
    if isinstance(value, dict):
        return to_int(value.get("value"))
    return to_int(value)


def _first_value(entries: Any) -> int | None:
    for entry in to_list(entries):
        if isinstance(entry, dict):
            return to_int(entry.get("value"))
    return to_int(entries)


def offer_row(
    raw: dict[str, Any],
    *,
    account_id: int,
    run_id: int,
    now: datetime,
    currency: str,
    vat_rates: dict[int, Decimal],
) -> dict[str, Any]:
    """A row of ``emag_products_v2`` from one ``product_offer/read`` item (§5.2)."""
    stock = [
        {"warehouse_id": to_int(s.get("warehouse_id")), "value": to_int(s.get("value")) or 0}
        for s in to_list(raw.get("stock"))
        if isinstance(s, dict)
    ]
    sale_price = to_decimal(raw.get("sale_price"))
    vat_id = to_int(raw.get("vat_id"))
    vat_rate = vat_rates.get(vat_id) if vat_id is not None else None
    eans = [str(e) for e in to_list(raw.get("ean")) if e not in (None, "")]
    images = [i for i in to_list(raw.get("images")) if isinstance(i, dict)]
    return {
        "account_id": account_id,
        "emag_id": to_int(raw.get("id")),
        "name": raw.get("name") or None,
        "brand": raw.get("brand") or None,
        "part_number": raw.get("part_number") or None,
        "part_number_key": raw.get("part_number_key") or None,
        "category_id": to_int(raw.get("category_id")),
        "ean": eans,
        "currency": raw.get("currency") or currency,
        "sale_price": sale_price,
        "sale_price_with_vat": (
            (sale_price * (1 + vat_rate)).quantize(Decimal("0.0001"))
            if sale_price is not None and vat_rate is not None
            else None
        ),
        "recommended_price": to_decimal(raw.get("recommended_price")),
        "min_sale_price": to_decimal(raw.get("min_sale_price")),
        "max_sale_price": to_decimal(raw.get("max_sale_price")),
        "best_offer_sale_price": to_decimal(raw.get("best_offer_sale_price")),
        "vat_id": vat_id,
        "vat_rate": vat_rate,
        "stock": stock,
        "stock_total": sum(s["value"] for s in stock),
        "general_stock": to_int(raw.get("general_stock")),
        "estimated_stock": to_int(raw.get("estimated_stock")),
        "handling_time": _first_value(raw.get("handling_time")),
        "status": to_int(raw.get("status")),
        "offer_validation_status": _status_value(raw.get("offer_validation_status")),
        "validation_status": _status_value(raw.get("validation_status")),
        "translation_validation_status": _status_value(raw.get("translation_validation_status")),
        "buy_button_rank": to_int(raw.get("buy_button_rank")),
        "number_of_offers": to_int(raw.get("number_of_offers")),
        "images": images,
        "url": raw.get("url") or None,
        "raw": raw,
        "last_seen_at": now,
        "last_seen_run_id": run_id,
        "missing_since": None,
        "updated_at": now,
    }


def _normalise_cancellation(raw: dict[str, Any]) -> dict[str, Any] | None:
    """``reason_cancellation`` (4.4.7+) or the older ``cancellation_reason``; an int code or an
    ``{id, name}`` object ([SF]); both UNCERTAIN in §5.9, so both are accepted."""
    value = raw.get("reason_cancellation", raw.get("cancellation_reason"))
    if isinstance(value, dict):
        reason_id = to_int(value.get("id"))
        return {"id": reason_id, "name": value.get("name")} if reason_id is not None else None
    reason_id = to_int(value)
    return {"id": reason_id, "name": None} if reason_id else None


def customer_key(platform: str, customer: dict[str, Any] | None) -> str | None:
    """Who a customer is: eMAG's customer id; else the (already hashed, §5.9) email, hashed
    again to a fixed length; else the phone's digits. Prefixed by platform, since ids and
    currencies are per platform."""
    if not customer:
        return None
    customer_id = to_int(customer.get("id"))
    if customer_id:
        return f"{platform}:id:{customer_id}"
    email = str(customer.get("email") or "").strip().lower()
    if email:
        return f"{platform}:email:{hashlib.sha256(email.encode()).hexdigest()[:40]}"
    phone = re.sub(r"\D", "", str(customer.get("phone_1") or customer.get("billing_phone") or ""))
    if phone:
        return f"{platform}:phone:{phone}"
    return None


def order_totals(raw: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(total without VAT, total with VAT) of an order.

    Lines: ``quantity x sale_price`` for active lines (status 1); prices are without VAT and
    ``vat`` is a fraction (§5.9, gotcha 5). Vouchers: ``sale_price`` (< 0, without VAT) plus
    ``sale_price_vat`` (< 0, its VAT). Shipping: ``shipping_tax`` is taken as VAT-inclusive, as
    [OC] sends and reads it (UNCERTAIN in §6 gotcha 5), and counted in the with-VAT total only.
    """
    net = ZERO
    gross = ZERO
    for line in to_list(raw.get("products")):
        if not isinstance(line, dict) or to_int(line.get("status")) == 0:
            continue
        quantity = to_decimal(line.get("quantity")) or ZERO
        price = to_decimal(line.get("sale_price")) or ZERO
        vat = to_decimal(line.get("vat")) or ZERO
        net += quantity * price
        gross += quantity * price * (1 + vat)
    for voucher in to_list(raw.get("vouchers")):
        if not isinstance(voucher, dict):
            continue
        value = to_decimal(voucher.get("sale_price")) or ZERO
        net += value
        gross += value + (to_decimal(voucher.get("sale_price_vat")) or ZERO)
    gross += to_decimal(raw.get("shipping_tax")) or ZERO
    cent = Decimal("0.0001")
    return net.quantize(cent), gross.quantize(cent)


def order_row(
    raw: dict[str, Any],
    *,
    account_id: int,
    platform: str,
    run_id: int,
    now: datetime,
    currency: str,
    tz: tzinfo,
    previous_status: int | None,
    previous_history: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """A row of ``emag_orders`` from one ``order/read`` item (§5.9)."""
    customer = to_dict(raw.get("customer"))
    status = to_int(raw.get("status"))
    modified = to_datetime(raw.get("modified"), tz)
    history = list(previous_history or [])
    if status != previous_status:
        history.append({"status": status, "at": (modified or now).isoformat()})
    net, gross = order_totals(raw)
    return {
        "account_id": account_id,
        "emag_id": to_int(raw.get("id")),
        "order_type": to_int(raw.get("type")) or 3,
        "status": status if status is not None else -1,
        "is_complete": bool(to_int(raw.get("is_complete"))),
        "payment_mode_id": to_int(raw.get("payment_mode_id")),
        "payment_mode": raw.get("payment_mode")
        if isinstance(raw.get("payment_mode"), str)
        else None,
        "payment_status": to_int(raw.get("payment_status")),
        "delivery_mode": raw.get("delivery_mode")
        if isinstance(raw.get("delivery_mode"), str)
        else None,
        "order_date": to_datetime(raw.get("date"), tz),
        "emag_modified_at": modified,
        "currency": raw.get("currency") or currency,
        "shipping_tax": to_decimal(raw.get("shipping_tax")),
        "total_without_vat": net,
        "total_with_vat": gross,
        "customer_key": customer_key(platform, customer),
        "customer_emag_id": to_int(customer.get("id")) if customer else None,
        "customer_name": (customer.get("name") or None) if customer else None,
        "customer": customer,
        "products": [p for p in to_list(raw.get("products")) if isinstance(p, dict)],
        "vouchers": [v for v in to_list(raw.get("vouchers")) if isinstance(v, dict)],
        "details": to_dict(raw.get("details")),
        "attachments": [a for a in to_list(raw.get("attachments")) if isinstance(a, dict)],
        "reason_cancellation": _normalise_cancellation(raw),
        "status_history": history,
        "raw": raw,
        "last_seen_at": now,
        "last_seen_run_id": run_id,
        "updated_at": now,
    }
