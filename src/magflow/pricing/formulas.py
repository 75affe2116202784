"""Profit, margin and floor: the formulas, in one place, without I/O.

Every amount is in one currency (an offer's own; a BG offer is in EUR since 2026) and is never
added to an amount of another currency. Prices are **without VAT**, as eMAG stores them
(docs/emag-protocol.md, "Offers").

Definitions, for a unit sold at price ``p`` (without VAT) with VAT rate ``v`` (a fraction):

- revenue ``R = p`` (without VAT: the VAT is the state's, not the seller's);
- commission ``C = r x p x (1 + v)``: eMAG's commission rate ``r`` applies to the price the
  buyer pays, VAT included (docs/emag-protocol.md, "Offers", commission);
- fixed costs per unit ``F``: the account's shipping + packaging (+ the FBE fee on FBE
  accounts) per order; an offer's candidate price is valued as an order of one unit;
- unit cost ``c`` (the seller's purchase cost, without VAT);
- profit ``P(p) = p - c - r x p x (1 + v) - F``; margin ``m(p) = P(p) / p``.

The **floor** of a minimum margin ``m`` is the lowest price whose margin is at least ``m``:
``P(p) >= m x p``  <=>  ``p x (1 - r x (1 + v) - m) >= c + F``  <=>
``p >= (c + F) / (1 - r x (1 + v) - m)``, rounded **up** to the cent. When
``1 - r x (1 + v) - m <= 0`` no price reaches the margin: there is no floor.

Worked example (tests/pricing/test_formulas.py): ``c = 50``, ``F = 5``, ``r = 0.15``,
``v = 0.21``, ``m = 0.10``: ``1 - 0.1815 - 0.10 = 0.7185``; floor = 55 / 0.7185 = 76.5483...
-> **76.55**. At 76.55: commission 0.15 x 76.55 x 1.21 = 13.893825, profit 76.55 - 50 -
13.893825 - 5 = 7.656175, margin 10.0015 %.

For an order line (:func:`line_profit`): revenue = quantity x sale price (without VAT) plus
the line's share of the order's vouchers; shipping share = the order's fixed costs x the line's
share of the order's revenue; profit = revenue - quantity x unit cost - commission - shipping
share. The SGR deposit (``recycle_warranties``) is collected for the deposit scheme and paid
on: it is reported beside the revenue and never counted in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
UNIT = Decimal("0.0001")


@dataclass(frozen=True)
class CostBasis:
    """What an offer's profit depends on besides its price."""

    unit_cost: Decimal
    commission_rate: Decimal
    vat_rate: Decimal
    fixed_per_order: Decimal


def commission(price: Decimal, basis: CostBasis) -> Decimal:
    """``r x p x (1 + v)``."""
    return basis.commission_rate * price * (ONE + basis.vat_rate)


def unit_profit(price: Decimal, basis: CostBasis) -> Decimal:
    """``P(p) = p - c - r x p x (1 + v) - F``, to 4 decimals."""
    value = price - basis.unit_cost - commission(price, basis) - basis.fixed_per_order
    return value.quantize(UNIT, ROUND_HALF_UP)


def margin(price: Decimal, basis: CostBasis) -> Decimal | None:
    """``P(p) / p`` (``None`` for a price of 0)."""
    if price <= 0:
        return None
    return (unit_profit(price, basis) / price).quantize(Decimal("0.000001"), ROUND_HALF_UP)


def floor_price(basis: CostBasis, min_margin: Decimal) -> Decimal | None:
    """The lowest price (to the cent, rounded up) whose margin is at least ``min_margin``, or
    ``None`` when no price reaches it. ``(c + F) / (1 - r x (1 + v) - m)``."""
    denominator = ONE - basis.commission_rate * (ONE + basis.vat_rate) - min_margin
    if denominator <= 0:
        return None
    value = ((basis.unit_cost + basis.fixed_per_order) / denominator).quantize(CENT, ROUND_CEILING)
    return value if value > 0 else CENT


def price_for_margin(basis: CostBasis, target_margin: Decimal) -> Decimal | None:
    """The price that yields ``target_margin`` (the floor formula with the target margin)."""
    return floor_price(basis, target_margin)


@dataclass(frozen=True)
class LineProfit:
    revenue: Decimal
    cost: Decimal | None
    commission: Decimal
    shipping: Decimal
    deposit: Decimal
    profit: Decimal | None


def line_profit(
    *,
    quantity: Decimal,
    sale_price: Decimal,
    vat_rate: Decimal,
    voucher_share: Decimal,
    unit_cost: Decimal | None,
    commission_rate: Decimal,
    shipping_share: Decimal,
    deposit: Decimal,
) -> LineProfit:
    """One order line: revenue = quantity x sale price + voucher share (a voucher is < 0);
    commission = rate x revenue x (1 + vat); profit = revenue - quantity x unit cost -
    commission - shipping share (``None`` while the unit cost is unknown). The deposit is
    carried through, outside revenue and profit.

    Worked example: 2 x 100.00 at VAT 0.21, no voucher, unit cost 60, rate 0.10, shipping share
    5, deposit 1.21: revenue 200, commission 0.10 x 200 x 1.21 = 24.20, cost 120, profit
    200 - 120 - 24.20 - 5 = 50.80; the deposit stays 1.21 and is in neither."""
    revenue = quantity * sale_price + voucher_share
    fee = commission_rate * revenue * (ONE + vat_rate)
    cost = quantity * unit_cost if unit_cost is not None else None
    profit = revenue - cost - fee - shipping_share if cost is not None else None
    return LineProfit(
        revenue=revenue.quantize(UNIT, ROUND_HALF_UP),
        cost=cost.quantize(UNIT, ROUND_HALF_UP) if cost is not None else None,
        commission=fee.quantize(UNIT, ROUND_HALF_UP),
        shipping=shipping_share.quantize(UNIT, ROUND_HALF_UP),
        deposit=deposit.quantize(UNIT, ROUND_HALF_UP),
        profit=profit.quantize(UNIT, ROUND_HALF_UP) if profit is not None else None,
    )
