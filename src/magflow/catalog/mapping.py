"""``product_offer/read`` rows (as read, PHP quirks and all) to ``emag_products_v2`` rows.

Values convert through :mod:`magflow.emag.coerce` (docs/emag-protocol.md, "PHP serialization
quirks"): numbers as strings, ``[]`` for empty objects and nulls are all accepted.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from magflow.emag.coerce import to_decimal, to_int, to_list


def _status_value(value: Any) -> int | None:
    """``{value, description}``, a list of them (validation_status, docs/emag-protocol.md, "Offers")
    or a bare number."""
    if isinstance(value, list):
        return _status_value(value[0]) if value else None
    if isinstance(value, dict):
        return to_int(value.get("value"))
    return to_int(value)


def _first_value(entries: Any) -> int | None:
    """``handling_time``: a list of ``{warehouse_id, value}`` (the first one counts) or a number."""
    if isinstance(entries, list | dict):
        for entry in to_list(entries):
            if isinstance(entry, dict):
                return to_int(entry.get("value"))
        return None
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
    """A row of ``emag_products_v2`` from one ``product_offer/read`` item
    (docs/emag-protocol.md, "Offers").

    ``stock_total`` (which drives the out-of-stock counts, the sellable rule, the filters and the
    exports): the sum of the per-warehouse ``stock[]`` when the read carries a non-empty list,
    ``general_stock`` otherwise, 0 when neither is there. ``stock[]`` is a field of the save body,
    not a documented read field (the documented ones are ``general_stock`` and
    ``estimated_stock``), so a read may omit it; an empty list (PHP's ``[]``, docs/emag-protocol.md,
    "PHP serialization quirks") says nothing per warehouse either. Taking 0 for a missing list
    would show every such offer as out of stock.
    """
    stock = [
        {"warehouse_id": to_int(s.get("warehouse_id")), "value": to_int(s.get("value")) or 0}
        for s in to_list(raw.get("stock"))
        if isinstance(s, dict)
    ]
    general_stock = to_int(raw.get("general_stock"))
    stock_total = sum(int(s["value"] or 0) for s in stock) if stock else (general_stock or 0)
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
        # The offer's own currency; the platform's only when the payload has none
        # (docs/emag-protocol.md, "Hosts and platforms").
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
        "stock_total": stock_total,
        "general_stock": general_stock,
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
