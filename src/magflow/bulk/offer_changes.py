"""What one bulk item's offer change means on either side: whether eMAG's ``offer/save`` answer
accepted the chunk (:func:`judge`, for the audit log), whether eMAG's offer already shows a change
(:func:`has_landed`, to confirm items whose answer was lost), and what the local offer becomes once
eMAG accepted one (:func:`offer_values`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from magflow.audit.service import Outcome
from magflow.catalog.models import EmagOffer
from magflow.emag.coerce import to_decimal, to_int, to_list
from magflow.emag.results import OfferSaveResult

PRICE_NAMES = ("sale_price", "min_sale_price", "max_sale_price", "recommended_price")
CENTS = Decimal("0.0001")


def warehouses(values: Any) -> dict[int, int]:
    """``{warehouse_id: value}`` of a ``[{warehouse_id, value}]`` list, read as eMAG sends it."""
    found: dict[int, int] = {}
    for entry in to_list(values):
        if not isinstance(entry, dict):
            continue
        warehouse, value = to_int(entry.get("warehouse_id")), to_int(entry.get("value"))
        if warehouse is not None and value is not None:
            found[warehouse] = value
    return found


def has_landed(payload: dict[str, Any], offer: dict[str, Any]) -> bool:
    """Whether eMAG's offer already shows every value ``payload`` sets.

    What a read does not show counts as "not landed" (the item is sent again): ``stock[]`` and
    ``min_sale_price``/``max_sale_price`` are not documented read fields (docs/emag-protocol.md,
    "Offers"), so stock falls back to ``general_stock`` (the sum over warehouses) and a missing
    price never confirms anything."""
    for name in PRICE_NAMES:
        if name in payload:
            current = to_decimal(offer.get(name))
            if current is None or current.quantize(CENTS) != Decimal(str(payload[name])).quantize(
                CENTS
            ):
                return False
    if "stock" in payload:
        wanted = warehouses(payload["stock"])
        shown = warehouses(offer.get("stock"))
        general_stock = to_int(offer.get("general_stock"))
        if shown:
            if any(shown.get(w) != v for w, v in wanted.items()):
                return False
        elif general_stock is None or general_stock != sum(wanted.values()):
            return False
    if "handling_time" in payload:
        wanted = warehouses(payload["handling_time"])
        shown = warehouses(offer.get("handling_time"))
        if any(shown.get(w) != v for w, v in wanted.items()):
            return False
    for name in ("status", "vat_id"):
        if name in payload and to_int(offer.get(name)) != int(payload[name]):
            return False
    return True


def judge(result: OfferSaveResult) -> Outcome:
    failed = result.failed
    return Outcome(
        status_code=200,
        success=not failed,
        messages=[f"{offer_id}: {m}" for offer_id, msgs in failed.items() for m in msgs],
        response=result.raw[0] if len(result.raw) == 1 else result.raw,
    )


def offer_values(
    offer: EmagOffer, changes: dict[str, Any], payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The local offer after eMAG accepted an item's ``changes`` sent as ``payload`` (stock as
    published, buffer applied)."""
    values: dict[str, Any] = {"updated_at": now}
    for name in ("sale_price", "min_sale_price", "max_sale_price", "recommended_price"):
        if name in changes:
            values[name] = Decimal(str(changes[name]))
    if "vat_id" in changes and changes["vat_id"] != offer.vat_id:
        values["vat_id"] = changes["vat_id"]
        values["vat_rate"] = None  # unknown until the next offers sync
    sale = values.get("sale_price", offer.sale_price)
    rate = values.get("vat_rate", offer.vat_rate) if "vat_rate" in values else offer.vat_rate
    if "sale_price" in values or "vat_rate" in values:
        values["sale_price_with_vat"] = (
            (sale * (1 + rate)).quantize(Decimal("0.0001"))
            if sale is not None and rate is not None
            else None
        )
    if "stock" in payload:
        # The warehouse the item was sent to (the account's setting when it was created).
        sent = payload["stock"][0]
        published = int(sent["value"])
        values["stock"] = [{"warehouse_id": int(sent.get("warehouse_id", 1)), "value": published}]
        values["stock_total"] = published
        values["general_stock"] = published
    for name in ("handling_time", "status"):
        if name in changes:
            values[name] = int(changes[name])
    return values
