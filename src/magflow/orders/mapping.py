"""``order/read`` rows (as read, PHP quirks and all) to ``emag_orders`` rows.

Values convert through :mod:`magflow.emag.coerce` (docs/emag-protocol.md, "PHP serialization
quirks"). Used by :func:`magflow.orders.service.store_orders`, the one place orders are stored.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from magflow.emag.codes import OrderStatus, OrderType
from magflow.emag.coerce import (
    is_blank,
    to_bool,
    to_datetime,
    to_decimal,
    to_dict,
    to_int,
    to_list,
    to_str,
)

ZERO = Decimal(0)
#: ``products[].status``: an order line with status 0 was removed from the order
# (docs/emag-protocol.md, "Orders").
LINE_REMOVED = 0
#: ``attachments[].type`` of an invoice, the default type (docs/emag-protocol.md,
# "Attachments and invoices").
ATTACHMENT_INVOICE = 1
#: The statuses an order reaches only once acknowledged (docs/emag-protocol.md, "Orders":
# acknowledgement is the only way out of 1 other than eMAG's own cancellation).
_ACKNOWLEDGED = frozenset(
    {OrderStatus.IN_PROGRESS, OrderStatus.PREPARED, OrderStatus.FINALIZED, OrderStatus.RETURNED}
)


def cancellation_requested(raw: dict[str, Any]) -> bool | None:
    """``cancellation_request``: the customer asked to cancel (docs/emag-protocol.md, "Orders").

    Its shape is not documented: a flag (``0``/``1``, booleans) reads as such; any other
    non-blank value (a date, an object) means a request exists; blank or absent is no request.
    None only when the key is absent altogether (an answer that does not carry the field).
    """
    if "cancellation_request" not in raw:
        return None
    value = raw["cancellation_request"]
    flag = to_bool(value)
    if flag is not None:
        return flag
    return not is_blank(value)


def has_invoice(attachments: list[dict[str, Any]]) -> bool:
    """Whether an invoice (attachment ``type`` 1, the default when ``type`` is absent) is on the
    order (docs/emag-protocol.md, "Attachments and invoices")."""
    return any(
        (to_int(a.get("type")) or ATTACHMENT_INVOICE) == ATTACHMENT_INVOICE for a in attachments
    )


def change_time(
    modified: datetime | None, history: list[dict[str, Any]], now: datetime
) -> datetime:
    """When a status change seen in a read happened: the read's ``modified`` (eMAG moves it on
    every change), unless it is missing or not later than the last recorded change. That is a
    copy MagFlow stores itself right after its own action (the intake's acknowledgement,
    :mod:`magflow.intake.work`, or an action whose re-read failed): it carries the ``modified``
    of the read before the change, so the change is dated ``now``. Without this an order the
    intake acknowledged 10 minutes after it was placed would show as acknowledged when placed
    (``ack_observed_at``, and so a 0-minute acknowledgement time in seller performance).

    Example: history ``[{status 1, at 10:00}]``, a copy with status 2 and ``modified`` 10:00,
    now 10:10 gives 10:10; a read with ``modified`` 10:07 gives 10:07.
    """
    if modified is None:
        return now
    last = history[-1].get("at") if history else None
    if isinstance(last, str):
        try:
            if modified <= datetime.fromisoformat(last):
                return now
        except (ValueError, TypeError):  # unparseable, or naive against aware
            pass
    return modified


def acknowledgement_seen(history: list[dict[str, Any]]) -> datetime | None:
    """When the stored history first shows the order leaving status 1 (new) for an
    acknowledged status (2-5): the ``at`` of that entry, i.e. eMAG's ``modified`` of the read
    that saw it. eMAG sends no acknowledgement time (docs/emag-protocol.md, "Orders"), so this
    is an upper bound of it: exact when the acknowledgement was the order's last change before
    that read. An order first read past status 1 has no such entry (None: not measured).

    Example: ``[{status 1, at 10:00}, {status 2, at 10:20}]`` gives 10:20;
    ``[{status 2, at 10:20}]`` gives None.
    """
    for before, entry in itertools.pairwise(history):
        if before.get("status") == OrderStatus.NEW and entry.get("status") in _ACKNOWLEDGED:
            at = entry.get("at")
            if isinstance(at, str):
                try:
                    return datetime.fromisoformat(at)
                except ValueError:
                    return None
            return None
    return None


def _normalise_cancellation(raw: dict[str, Any]) -> dict[str, Any] | None:
    """``reason_cancellation`` (4.4.7+) or the older ``cancellation_reason``; an int code or an
    ``{id, name}`` object ([SF]); both uncertain (docs/emag-protocol.md, "Orders"), so both are
    accepted."""
    value = raw.get("reason_cancellation", raw.get("cancellation_reason"))
    if isinstance(value, dict):
        reason_id = to_int(value.get("id"))
        return {"id": reason_id, "name": value.get("name")} if reason_id is not None else None
    reason_id = to_int(value)
    return {"id": reason_id, "name": None} if reason_id else None


def customer_key(platform: str, customer: dict[str, Any] | None) -> str | None:
    """Who a customer is: eMAG's customer id; else the (already hashed,
    docs/emag-protocol.md, "Orders") email, hashed again to a fixed length; else the phone's digits.
    Prefixed by platform, since ids and currencies are per platform."""
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


def deposit_with_vat(line: dict[str, Any]) -> Decimal:
    """The SGR deposit of one order line, VAT included: the sum over its ``recycle_warranties``
    of ``quantity x sale_price x (1 + vat_rate)`` (see :func:`order_totals`)."""
    total = ZERO
    for warranty in to_list(line.get("recycle_warranties")):
        if not isinstance(warranty, dict):
            continue
        quantity = to_decimal(warranty.get("quantity")) or ZERO
        price = to_decimal(warranty.get("sale_price")) or ZERO
        rate = to_decimal(warranty.get("vat_rate")) or ZERO
        if rate > 1:
            rate /= 100
        total += quantity * price * (1 + rate)
    return total


def order_totals(raw: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(total without VAT, total with VAT) of an order.

    Lines: ``quantity x sale_price`` for lines not removed (status 0); prices are without VAT and
    ``vat`` is a fraction (docs/emag-protocol.md, "Orders"). Vouchers: ``sale_price`` (< 0, without
    VAT) plus ``sale_price_vat`` (< 0, its VAT). Shipping: ``shipping_tax`` is taken as
    VAT-inclusive, as [OC] sends and reads it (uncertain: docs/emag-protocol.md, "Orders"), and
    counted in the with-VAT total only.

    SGR deposit: a line may carry ``recycle_warranties``, Romania's deposit-return charge for
    beverage packaging, ``[{quantity, sale_price, vat_rate, product_name, ...}]``
    (docs/emag-protocol.md, "Orders"). The buyer pays it, so it is part of the amount collected
    on delivery (the default COD of an AWB is this total) and of what the customer spent. Each
    entry adds ``quantity x sale_price x (1 + vat_rate)`` to the with-VAT total only: the
    without-VAT total stays the value of the goods sold, since the deposit is collected for the
    scheme, not sold. ``sale_price`` is without VAT like a line's; ``quantity`` is taken as the
    entry's own count of packages (not multiplied by the line's quantity); ``vat_rate`` is a
    fraction like a line's ``vat``, and a value above 1 is read as a percentage (21 -> 0.21),
    since eMAG does not say which form it sends. A removed line's deposit is not counted.

    Worked example: 2 x 10.00 at vat 0.21 plus a deposit of 2 x 0.50 at vat_rate 0.21 gives
    without VAT 20.00 and with VAT 24.20 + 1.21 = 25.41.
    """
    net = ZERO
    gross = ZERO
    for line in to_list(raw.get("products")):
        if not isinstance(line, dict) or to_int(line.get("status")) == LINE_REMOVED:
            continue
        quantity = to_decimal(line.get("quantity")) or ZERO
        price = to_decimal(line.get("sale_price")) or ZERO
        vat = to_decimal(line.get("vat")) or ZERO
        net += quantity * price
        gross += quantity * price * (1 + vat)
        gross += deposit_with_vat(line)
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
    run_id: int | None,
    now: datetime,
    currency: str,
    tz: tzinfo,
    previous_status: int | None,
    previous_history: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """A row of ``emag_orders`` from one ``order/read`` item (docs/emag-protocol.md, "Orders").

    ``status_history`` gains an entry when the status differs from ``previous_status`` (the
    stored one). ``currency`` is the order's own ``currency`` field; the ``currency`` argument
    (the platform's, docs/emag-protocol.md, "Hosts and platforms") is used only when the payload
    has none. An order read outside a sync run (``run_id=None``) has no ``last_seen_run_id``
    key, so storing it keeps the run that last saw it.
    """
    customer = to_dict(raw.get("customer"))
    status = to_int(raw.get("status"))
    modified = to_datetime(raw.get("modified"), tz)
    history = list(previous_history or [])
    if status != previous_status:
        history.append({"status": status, "at": change_time(modified, history, now).isoformat()})
    net, gross = order_totals(raw)
    attachments = [a for a in to_list(raw.get("attachments")) if isinstance(a, dict)]
    row = {
        "account_id": account_id,
        "emag_id": to_int(raw.get("id")),
        "order_type": to_int(raw.get("type")) or int(OrderType.SELLER),
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
        "customer_name": to_str(customer.get("name")) if customer else None,
        "customer": customer,
        "products": [p for p in to_list(raw.get("products")) if isinstance(p, dict)],
        "vouchers": [v for v in to_list(raw.get("vouchers")) if isinstance(v, dict)],
        "details": to_dict(raw.get("details")),
        "attachments": attachments,
        "reason_cancellation": _normalise_cancellation(raw),
        "status_history": history,
        # docs/emag-protocol.md, "Orders": deadlines and flags of real answers.
        "maximum_date_for_shipment": to_datetime(raw.get("maximum_date_for_shipment"), tz),
        "finalization_date": to_datetime(raw.get("finalization_date"), tz),
        "late_shipment": to_bool(raw.get("late_shipment")),
        "cancellation_requested": cancellation_requested(raw),
        "has_invoice": has_invoice(attachments),
        "ack_observed_at": acknowledgement_seen(history),
        "raw": raw,
        "last_seen_at": now,
        "updated_at": now,
    }
    if run_id is not None:
        row["last_seen_run_id"] = run_id
    return row
