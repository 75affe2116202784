"""From a stored eMAG order to the document an invoicing provider issues.

The document is a plain JSON object (kept on the invoice row, so a retry sends exactly what the
first attempt sent):

``{reference, kind, currency, issue_date, seller{...}, buyer{...}, lines[...], totals{...},
reverses?{series, number, issue_date}}``

Each line is ``{name, code, quantity, unit_price, vat_rate, kind}``: ``unit_price`` without VAT
(2 decimals), ``vat_rate`` a percentage, ``kind`` one of ``product``, ``shipping``, ``discount``,
``deposit``. Amounts are in the order's currency (RON on eMAG RO, EUR on eMAG BG, HUF on HU:
docs/emag-protocol.md, "Orders").

Where each line comes from (docs/emag-protocol.md, "Orders" and "Attachments and invoices"):

- products: the active lines (``status`` 1), ``quantity x sale_price`` with ``sale_price`` without
  VAT and ``vat`` a fraction (0.21 → 21 %);
- shipping: ``shipping_tax`` is VAT-inclusive (as ``orders.mapping.order_totals`` reads it), so
  its unit price without VAT is ``shipping_tax / (1 + rate)``, at the highest rate of the lines;
- vouchers: each ``vouchers[]`` entry is a discount line of quantity -1 and unit price
  ``|sale_price|`` (without VAT) at the voucher's own ``vat`` rate;
- the SGR deposit: each ``recycle_warranties[]`` entry of an active line is its own line,
  ``quantity x sale_price`` at its ``vat_rate`` (a fraction, or a percentage when above 1).

Amounts per line: ``net = round(quantity x unit_price, 2)``, ``vat = round(net x rate / 100, 2)``;
the totals add the rounded line amounts (how both providers and e-Factura total an invoice).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from magflow.emag.coerce import to_decimal, to_int, to_list
from magflow.invoicing import cui
from magflow.invoicing.models import DocKind, InvoicingSettings
from magflow.orders.models import EmagOrder

CENT = Decimal("0.01")
ZERO = Decimal(0)
CURRENCY_OF_PLATFORM = {"ro": "RON", "bg": "EUR", "hu": "HUF"}


class DocumentError(ValueError):
    """The order cannot be invoiced as it stands (missing billing data, invalid CUI...)."""


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _rate(value: Any) -> Decimal:
    """A VAT rate as a percentage: eMAG sends fractions (``"0.2100"``); above 1 it is already %."""
    rate = to_decimal(value) or ZERO
    return (rate * 100 if rate <= 1 else rate).quantize(CENT).normalize()


def _text(value: Any) -> str:
    return str(value).strip() if value not in (None, "") else ""


def buyer_of(order: EmagOrder) -> dict[str, Any]:
    """The buyer from the order's billing data; a company needs a valid CUI."""
    customer = order.customer or {}
    name = _text(customer.get("billing_name")) or _text(customer.get("name"))
    street = _text(customer.get("billing_street"))
    city = _text(customer.get("billing_city"))
    country = _text(customer.get("billing_country"))
    missing = [
        label for label, value in (("name", name), ("street", street), ("city", city)) if not value
    ]
    if not customer or missing:
        raise DocumentError(
            "the order has no billing data"
            + (f" (missing billing {', '.join(missing)})" if customer else "")
        )
    is_company = bool(to_int(customer.get("legal_entity")))
    buyer: dict[str, Any] = {
        "name": _text(customer.get("company")) if is_company else name,
        "is_company": is_company,
        "address": street,
        "city": city,
        "county": _text(customer.get("billing_suburb")),
        "country": (country or "RO")[:2].upper(),
        "postal_code": _text(customer.get("billing_postal_code")),
        "phone": _text(customer.get("billing_phone")) or _text(customer.get("phone_1")),
    }
    if is_company:
        code = _text(customer.get("code"))
        if not code:
            raise DocumentError("the buyer is a company but the order has no CUI (customer.code)")
        if buyer["country"] == "RO" and not cui.is_valid(code):
            raise DocumentError(f"the buyer's CUI {code!r} is invalid (its check digit is wrong)")
        buyer["name"] = buyer["name"] or name
        buyer["cui"] = code.replace(" ", "").upper()
        buyer["reg_no"] = _text(customer.get("registration_number"))
        buyer["vat_payer"] = bool(to_int(customer.get("is_vat_payer")))
    return buyer


def seller_of(settings: InvoicingSettings) -> dict[str, Any]:
    return {
        "name": settings.seller_name,
        "cui": settings.seller_cui,
        "reg_no": settings.seller_reg_no or "",
        "address": settings.seller_address or "",
        "city": settings.seller_city or "",
        "county": settings.seller_county or "",
        "country": settings.seller_country,
        "iban": settings.seller_iban or "",
        "vat_payer": settings.vat_payer,
    }


def _line(
    name: str, code: str, quantity: Decimal, unit_price: Decimal, rate: Decimal, kind: str
) -> dict[str, Any]:
    return {
        "name": name[:200] or "-",
        "code": code[:64],
        "quantity": str(quantity.normalize()),
        "unit_price": str(money(unit_price)),
        "vat_rate": str(rate),
        "kind": kind,
    }


def order_lines(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The invoice lines of an order as read from eMAG (see the module docstring)."""
    lines: list[dict[str, Any]] = []
    rates: list[Decimal] = []
    deposits: list[dict[str, Any]] = []
    for product in to_list(raw.get("products")):
        if not isinstance(product, dict) or to_int(product.get("status")) == 0:
            continue
        quantity = to_decimal(product.get("quantity")) or ZERO
        if quantity <= 0:
            continue
        rate = _rate(product.get("vat"))
        rates.append(rate)
        lines.append(
            _line(
                _text(product.get("name")) or f"Product {product.get('product_id')}",
                _text(product.get("part_number_key") or product.get("part_number")),
                quantity,
                to_decimal(product.get("sale_price")) or ZERO,
                rate,
                "product",
            )
        )
        for warranty in to_list(product.get("recycle_warranties")):
            if not isinstance(warranty, dict):
                continue
            count = to_decimal(warranty.get("quantity")) or ZERO
            if count > 0:
                deposits.append(
                    _line(
                        _text(warranty.get("product_name")) or "Garanție SGR",
                        "SGR",
                        count,
                        to_decimal(warranty.get("sale_price")) or ZERO,
                        _rate(warranty.get("vat_rate")),
                        "deposit",
                    )
                )
    top_rate = max(rates, default=ZERO)
    shipping = to_decimal(raw.get("shipping_tax")) or ZERO
    if shipping > 0:
        net = shipping / (1 + top_rate / 100)
        lines.append(_line("Transport", "SHIP", Decimal(1), net, top_rate, "shipping"))
    for voucher in to_list(raw.get("vouchers")):
        if not isinstance(voucher, dict):
            continue
        value = to_decimal(voucher.get("sale_price")) or ZERO
        if value == 0:
            continue
        lines.append(
            _line(
                _text(voucher.get("voucher_name")) or "Voucher",
                f"V{voucher.get('voucher_id') or ''}",
                Decimal(-1),  # a price is never negative (EN 16931 BR-27): the quantity is -1
                abs(value),
                _rate(voucher.get("vat")) if voucher.get("vat") is not None else top_rate,
                "discount",
            )
        )
    return lines + deposits


def totals(lines: list[dict[str, Any]]) -> dict[str, str]:
    net = vat = ZERO
    for line in lines:
        amount = money(Decimal(line["quantity"]) * Decimal(line["unit_price"]))
        net += amount
        vat += money(amount * Decimal(line["vat_rate"]) / 100)
    return {"net": str(net), "vat": str(vat), "gross": str(net + vat)}


def build(
    order: EmagOrder,
    settings: InvoicingSettings,
    *,
    platform: str,
    kind: DocKind,
    reference: str,
    today: date,
    reverses: dict[str, Any] | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The document for ``order``. A credit note takes ``lines`` (the quantities reversed, made
    negative here) and ``reverses`` (the invoice it corrects)."""
    buyer = buyer_of(order)
    if lines is None:
        lines = order_lines(order.raw or {})
    if kind is DocKind.credit_note:
        lines = [
            {**line, "quantity": str((-Decimal(line["quantity"])).normalize())} for line in lines
        ]
    if not lines:
        raise DocumentError("the order has no line to invoice")
    currency = order.currency or CURRENCY_OF_PLATFORM.get(platform, "RON")
    document: dict[str, Any] = {
        "reference": reference,
        "kind": kind.value,
        "order_id": order.emag_id,
        "currency": currency,
        "issue_date": today.isoformat(),
        "seller": seller_of(settings),
        "buyer": buyer,
        "lines": lines,
        "totals": totals(lines),
    }
    if reverses is not None:
        document["reverses"] = reverses
    return document


def reversed_lines(
    invoiced: list[dict[str, Any]], raw_now: dict[str, Any], full: bool
) -> list[dict[str, Any]]:
    """What a credit note gives back: every invoiced line (``full``: the order was cancelled or
    returned), else the difference between what was invoiced and what the order holds now (a
    partial storno: docs/emag-protocol.md, "Orders"), line by line on (kind, code, unit price)."""
    if full:
        return [dict(line) for line in invoiced]
    now: dict[tuple[str, str, str], Decimal] = {}
    for line in order_lines(raw_now):
        key = (line["kind"], line["code"], line["unit_price"])
        now[key] = now.get(key, ZERO) + Decimal(line["quantity"])
    out = []
    for line in invoiced:
        key = (line["kind"], line["code"], line["unit_price"])
        had = Decimal(line["quantity"])
        if had <= 0:
            continue  # a discount stays as granted
        keep = min(now.get(key, ZERO), had)
        now[key] = now.get(key, ZERO) - keep
        if had - keep > 0:
            out.append({**line, "quantity": str((had - keep).normalize())})
    return out
