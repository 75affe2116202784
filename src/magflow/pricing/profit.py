"""Profit per offer (at its price or any candidate price) and per order line, and the profit
report (per day, offer or category). The formulas are :mod:`.formulas`'.

**Order lines.** The report reads ``pricing_order_lines``, one row per sold line, rebuilt from
``emag_orders`` for every order changed since the account's watermark (``updated_at``, ``id``) by
:func:`refresh_lines`: after each orders sync (complete or partial) and on demand
(``POST /api/v1/pricing/report/refresh``). An order synced again is re-read, its lines replaced.
Reading the report never writes (a write-back's status change shows after the next orders sync,
which the schedule runs every few minutes).

Which orders count: statuses 1 (new), 2 (in progress), 3 (prepared) and 4 (finalized);
cancelled (0) and returned (5) orders have no line (docs/emag-protocol.md, "Orders"). A removed
line (status 0) is not sold. The line's day is the order's date in the platform's time zone.

Per line (:func:`magflow.pricing.formulas.line_profit`): revenue without VAT (``quantity x
sale_price``) plus the line's share of the order's vouchers; the unit cost and the commission rate
known when the line is built (a cost import, or a change of commissions or fixed costs, makes
the next rebuild re-read every order of the account); the shipping share =
the account's fixed costs per order (shipping + packaging, + the FBE fee on FBE orders, type 2)
x the line's share of the order's revenue; the SGR deposit (``recycle_warranties``, with its VAT,
:func:`magflow.orders.mapping.deposit_with_vat`) is reported beside, never as revenue. Amounts are
summed per currency only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts.models import EmagAccount
from magflow.emag.coerce import to_decimal, to_int, to_list
from magflow.emag.platforms import platform_info
from magflow.orders.mapping import LINE_REMOVED, deposit_with_vat
from magflow.orders.models import EmagOrder
from magflow.pricing import repository
from magflow.pricing.formulas import ZERO, CostBasis, line_profit
from magflow.pricing.models import PricingSettings

SOLD_STATUSES = {1, 2, 3, 4}
FBE_ORDER_TYPE = 2
PAGE = 2000


@dataclass(frozen=True)
class Costs:
    """What one account's profit reads: unit costs and eMAG's estimates by offer, the seller's
    category commissions, the fixed costs per order."""

    offers: dict[int, Any]  # {emag_id: (unit_cost, emag_commission_rate)} rows
    categories: dict[int, Decimal]
    settings: PricingSettings | None

    def fixed_per_order(self, fbe: bool) -> Decimal:
        s = self.settings
        if s is None:
            return ZERO
        return s.shipping_per_order + s.packaging_per_order + (s.fbe_fee_per_order if fbe else 0)

    def commission_rate(self, emag_id: int | None, category_id: int | None) -> Decimal | None:
        """The seller's rate for the offer's category; else eMAG's estimate for the offer; else
        the account's default. The seller's table wins: it is what they were invoiced."""
        cost = self.offers.get(emag_id) if emag_id is not None else None
        return self.rate_of(category_id, cost.emag_commission_rate if cost is not None else None)

    def rate_of(self, category_id: int | None, emag_rate: Any) -> Decimal | None:
        """:meth:`commission_rate` from eMAG's estimate already read (the repricer reads it
        with the offer, in one query)."""
        if category_id is not None and category_id in self.categories:
            return self.categories[category_id]
        if emag_rate is not None:
            return Decimal(emag_rate)
        return self.settings.default_commission_rate if self.settings is not None else None

    def unit_cost(self, emag_id: int | None) -> Decimal | None:
        cost = self.offers.get(emag_id) if emag_id is not None else None
        return cost.unit_cost if cost is not None else None

    def basis(
        self,
        emag_id: int,
        category_id: int | None,
        vat_rate: Decimal | None,
        fbe: bool,
    ) -> CostBasis | None:
        """The cost basis of an offer, ``None`` while its unit cost, commission or VAT rate is
        unknown. eMAG's commission is charged on the price with VAT, so a VAT rate taken as 0
        would understate it and put the floor too low (cost 50, fixed 5, commission 15 %,
        margin 10 %: 73.34 instead of 76.55 at 21 %): no basis, no floor, no repricing."""
        unit_cost = self.unit_cost(emag_id)
        rate = self.commission_rate(emag_id, category_id)
        if unit_cost is None or rate is None or vat_rate is None:
            return None
        return CostBasis(unit_cost, rate, vat_rate, self.fixed_per_order(fbe))


async def load_costs(session: AsyncSession, account_id: int, offers: bool = True) -> Costs:
    """``offers=False``: without the per-offer costs (a caller that reads them with its offers,
    :func:`magflow.pricing.repricer.evaluate`)."""
    return Costs(
        offers=await repository.costs(session, account_id) if offers else {},
        categories=await repository.category_commissions(session, account_id),
        settings=await repository.get_settings(session, account_id),
    )


def order_lines(
    order: EmagOrder,
    costs: Costs,
    facts: dict[int, tuple[int | None, Decimal | None]],
    tz: Any,
) -> list[dict[str, Any]]:
    """The ``pricing_order_lines`` rows of one order (none unless it counts as sold)."""
    if order.status not in SOLD_STATUSES or order.order_date is None:
        return []
    day = order.order_date.astimezone(tz).date()
    lines = []
    for line in to_list(order.products):
        if not isinstance(line, dict) or to_int(line.get("status")) == LINE_REMOVED:
            continue
        quantity = to_decimal(line.get("quantity")) or ZERO
        price = to_decimal(line.get("sale_price")) or ZERO
        vat = to_decimal(line.get("vat")) or ZERO
        if vat > 1:
            vat /= 100
        lines.append((line, quantity, price, vat, quantity * price))
    if not lines:
        return []
    net = sum((x[4] for x in lines), ZERO)
    vouchers = sum(
        (
            to_decimal(v.get("sale_price")) or ZERO
            for v in to_list(order.vouchers)
            if isinstance(v, dict)
        ),
        ZERO,
    )
    fixed = costs.fixed_per_order(order.order_type == FBE_ORDER_TYPE)
    currency = order.currency or "RON"
    rows = []
    for line, quantity, price, vat, value in lines:
        share = value / net if net else Decimal(1) / len(lines)
        emag_id = to_int(line.get("product_id"))
        category_id, _vat = (
            facts.get(emag_id, (None, None)) if emag_id is not None else (None, None)
        )
        rate = costs.commission_rate(emag_id, category_id) or ZERO
        result = line_profit(
            quantity=quantity,
            sale_price=price,
            vat_rate=vat,
            voucher_share=vouchers * share,
            unit_cost=costs.unit_cost(emag_id),
            commission_rate=rate,
            shipping_share=fixed * share,
            deposit=deposit_with_vat(line),
        )
        rows.append(
            {
                "account_id": order.account_id,
                "order_id": order.id,
                "day": day,
                "emag_id": emag_id,
                "category_id": category_id,
                "currency": currency,
                "quantity": quantity,
                "revenue": result.revenue,
                "cost": result.cost,
                "commission": result.commission,
                "shipping": result.shipping,
                "deposit": result.deposit,
                "profit": result.profit,
            }
        )
    return rows


async def refresh_lines(session: AsyncSession, account: EmagAccount) -> int:
    """Rebuild the lines of the account's orders changed since the watermark; returns the
    number of orders re-read. Never commits."""
    mark = await repository.watermark(session, account.id)
    costs: Costs | None = None  # loaded only when an order changed (most reports: none did)
    tz = platform_info(account.platform).tz
    since, after_id, seen = mark.updated_until, mark.last_order_id or 0, 0
    while True:
        orders = await repository.orders_changed_since(session, account.id, since, after_id, PAGE)
        if not orders:
            break
        if costs is None:
            costs = await load_costs(session, account.id)
        product_ids = {
            pid
            for o in orders
            for line in to_list(o.products)
            if isinstance(line, dict) and (pid := to_int(line.get("product_id"))) is not None
        }
        facts = await repository.offer_facts(session, account.id, product_ids)
        rows = [row for o in orders for row in order_lines(o, costs, facts, tz)]
        await repository.replace_order_lines(session, [o.id for o in orders], rows)
        seen += len(orders)
        since, after_id = orders[-1].updated_at, orders[-1].id
        mark.updated_until, mark.last_order_id = since, after_id
    return seen


def report_rows(rows: Sequence[Any], group: str) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        key = r.key.isoformat() if isinstance(r.key, date) else r.key
        out.append(
            {
                group: key,
                "currency": r.currency,
                "lines": r.lines,
                "lines_without_cost": r.lines - r.lines_with_cost,
                "quantity": r.quantity,
                "revenue": r.revenue,
                "cost": r.cost,
                "commission": r.commission,
                "shipping": r.shipping,
                "deposit": r.deposit,
                "profit": r.profit,
            }
        )
    return out


def now() -> datetime:
    return datetime.now(UTC)
