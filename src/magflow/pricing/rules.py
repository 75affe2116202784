"""Repricing rules: which rule applies to an offer, and what it decides. Pure logic, no I/O.

A rule targets offers (``scope``): a list of offer ids, a category, a brand, or every offer of
the account; when several match, the most specific wins (offers > brand > category > account),
then the oldest rule. Its ``strategy`` proposes a target price (all prices without VAT):

- ``win``: win the Buy Button: ``best_offer_sale_price - step`` when the offer is not at rank 1;
  at rank 1 it holds;
- ``match``: ``best_offer_sale_price``;
- ``margin``: the price that yields ``target_margin`` (see :mod:`.formulas`).

**Guards**, in order, each giving the decision's reason:

1. a paused offer does not run (``paused``; eMAG refused a price, or too many steps);
2. the offer needs ``min_sale_price`` and ``max_sale_price`` (eMAG refuses a sale price outside
   them, docs/emag-protocol.md, "Offers") and a current price (``no_bounds``, ``no_price``);
3. **a floor**: from the unit cost, the commission rate, the VAT rate, the account's fixed costs
   per order and the rule's ``min_margin`` (:func:`.formulas.floor_price`); no unit cost, no
   commission rate or no reachable margin means no floor and the rule **does not run**
   (``no_floor``). A floor above ``max_sale_price`` cannot be honoured (``floor_above_max``);
4. the price becomes ``clamp(target, max(floor, min_sale_price), ceiling)``, the ceiling being
   ``max_sale_price``, or a cent under ``recommended_price`` when the offer has one (eMAG
   refuses a sale price that is not below it, docs/emag-protocol.md, "Offers"): never under
   the floor, never outside eMAG's bounds, never 0 (the floor is at least a cent). A target
   under the floor stops at the floor (``at_floor``): no price war below it;
5. no change when it equals the current price (``unchanged``);
6. a cool-down since the last change (``cooldown``), a maximum of changes per day
   (``daily_limit``), and ``stop_after_steps`` changes in a row without winning the Buy Button
   pause the offer (``no_win``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from magflow.pricing.formulas import CENT, CostBasis, floor_price, price_for_margin, unit_profit

SPECIFICITY = {"offers": 0, "brand": 1, "category": 2, "account": 3}


@dataclass(frozen=True)
class Rule:
    id: int
    scope: str
    strategy: str
    step: Decimal
    min_margin: Decimal
    target_margin: Decimal | None = None
    category_id: int | None = None
    brand: str | None = None
    offer_ids: frozenset[int] = frozenset()
    cooldown_minutes: int = 60
    max_changes_per_day: int = 10
    stop_after_steps: int = 5

    def matches(self, offer: OfferView) -> bool:
        if self.scope == "offers":
            return offer.emag_id in self.offer_ids
        if self.scope == "brand":
            return (
                offer.brand is not None
                and self.brand is not None
                and (offer.brand.casefold() == self.brand.casefold())
            )
        if self.scope == "category":
            return offer.category_id == self.category_id
        return self.scope == "account"


@dataclass(slots=True)
class OfferView:
    """What a rule reads of an offer (not frozen: built 100,000 times per run, and a frozen
    dataclass's construction is several times slower)."""

    emag_id: int
    category_id: int | None
    brand: str | None
    currency: str | None
    sale_price: Decimal | None
    min_sale_price: Decimal | None
    max_sale_price: Decimal | None
    buy_button_rank: int | None
    best_offer_sale_price: Decimal | None
    number_of_offers: int | None = None
    recommended_price: Decimal | None = None


@dataclass
class StateView:
    day: date | None = None
    changes_today: int = 0
    last_change_at: datetime | None = None
    steps_without_win: int = 0
    paused_reason: str | None = None


@dataclass(slots=True)
class Decision:
    emag_id: int
    rule_id: int
    action: str  # change, hold, skip
    reason: str
    detail: str
    price_before: Decimal | None
    price_after: Decimal | None
    floor: Decimal | None
    profit_after: Decimal | None
    pause: str | None = None  # pause the offer with this reason


def pick_rule(rules: list[Rule], offer: OfferView) -> Rule | None:
    """The most specific matching rule (then the oldest)."""
    matching = [r for r in rules if r.matches(offer)]
    if not matching:
        return None
    return min(matching, key=lambda r: (SPECIFICITY[r.scope], r.id))


def decide(
    rule: Rule,
    offer: OfferView,
    basis: CostBasis | None,
    state: StateView,
    now: datetime,
) -> Decision:
    """What ``rule`` does to ``offer`` now (see the module for the guards and reasons)."""
    before = offer.sale_price

    def result(
        action: str,
        reason: str,
        detail: str,
        after: Decimal | None = None,
        floor: Decimal | None = None,
        pause: str | None = None,
    ) -> Decision:
        # The profit at the new price (only a change has one).
        profit = unit_profit(after, basis) if after is not None and basis is not None else None
        return Decision(
            offer.emag_id, rule.id, action, reason, detail, before, after, floor, profit, pause
        )

    if state.paused_reason:
        return result("skip", "paused", state.paused_reason)
    if before is None or before <= 0:
        return result("skip", "no_price", "the offer has no current price")
    if offer.min_sale_price is None or offer.max_sale_price is None:
        return result("skip", "no_bounds", "min_sale_price/max_sale_price unknown")
    if basis is None:
        return result(
            "skip", "no_floor", "no unit cost, commission rate or VAT rate: the rule has no floor"
        )
    floor = floor_price(basis, rule.min_margin)
    if floor is None:
        return result("skip", "no_floor", "no price reaches the minimum margin")
    ceiling = offer.max_sale_price
    if offer.recommended_price is not None:
        ceiling = min(ceiling, offer.recommended_price - CENT)
    if floor > ceiling:
        why = (
            f"max_sale_price {offer.max_sale_price}"
            if ceiling == offer.max_sale_price
            else f"a cent under recommended_price {offer.recommended_price}"
        )
        return result("skip", "floor_above_max", f"floor {floor} is above {why}", floor=floor)
    lowest = max(floor, offer.min_sale_price, CENT)
    rank, best = offer.buy_button_rank, offer.best_offer_sale_price
    if rule.strategy == "margin":
        target = price_for_margin(basis, rule.target_margin or rule.min_margin)
        if target is None:
            return result("skip", "no_floor", "no price reaches the target margin", floor=floor)
        why = "target margin"
    elif best is None:
        return result("hold", "no_competition", "best offer price unknown", floor=floor)
    elif rule.strategy == "match":
        target, why = best, "match the best offer"
    elif rank == 1:
        return result("hold", "winning", "holds the Buy Button", floor=floor)
    else:
        target, why = best - rule.step, f"undercut the best offer {best} by {rule.step}"
    if lowest > ceiling:
        return result(
            "skip", "floor_above_max", f"min_sale_price {lowest} is above {ceiling}", floor=floor
        )
    price = min(max(target, lowest), ceiling).quantize(Decimal("0.0001"))
    reason = "at_floor" if target < lowest else "target"
    if price == before.quantize(Decimal("0.0001")):
        return result("hold", "unchanged" if reason == "target" else "at_floor", why, floor=floor)
    if state.last_change_at is not None and now - state.last_change_at < timedelta(
        minutes=rule.cooldown_minutes
    ):
        return result(
            "hold", "cooldown", f"last change at {state.last_change_at:%H:%M}", floor=floor
        )
    today = now.date()
    changes_today = state.changes_today if state.day == today else 0
    if changes_today >= rule.max_changes_per_day:
        return result(
            "hold",
            "daily_limit",
            f"{changes_today} changes today (max {rule.max_changes_per_day})",
            floor=floor,
        )
    if (
        rule.strategy == "win"
        and rank not in (None, 1)
        and state.steps_without_win >= rule.stop_after_steps
    ):
        return result(
            "skip",
            "no_win",
            f"{state.steps_without_win} steps without winning the Buy Button",
            floor=floor,
            pause=f"stopped after {state.steps_without_win} steps without winning",
        )
    return result("change", reason, why, after=price, floor=floor)


def as_rule(row: Any) -> Rule:
    """A :class:`Rule` from a ``pricing_rules`` row."""
    return Rule(
        id=row.id,
        scope=row.scope,
        strategy=row.strategy,
        step=row.step,
        min_margin=row.min_margin,
        target_margin=row.target_margin,
        category_id=row.category_id,
        brand=row.brand,
        offer_ids=frozenset(int(i) for i in (row.offer_ids or [])),
        cooldown_minutes=row.cooldown_minutes,
        max_changes_per_day=row.max_changes_per_day,
        stop_after_steps=row.stop_after_steps,
    )
