"""The pricing formulas and the repricing rules' decisions, with worked examples (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from magflow.pricing.formulas import CostBasis, floor_price, line_profit, margin, unit_profit
from magflow.pricing.models import PricingSettings
from magflow.pricing.profit import Costs
from magflow.pricing.rules import OfferView, Rule, StateView, decide, pick_rule

BASIS = CostBasis(
    unit_cost=D(50), commission_rate=D("0.15"), vat_rate=D("0.21"), fixed_per_order=D(5)
)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_floor_worked_example() -> None:
    # (50 + 5) / (1 - 0.15 x 1.21 - 0.10) = 55 / 0.7185 = 76.5483... -> 76.55 (rounded up)
    assert floor_price(BASIS, D("0.10")) == D("76.55")
    # at the floor: commission 0.15 x 76.55 x 1.21 = 13.893825; profit 76.55 - 50 - 13.8938 - 5
    assert unit_profit(D("76.55"), BASIS) == D("7.6562")
    assert margin(D("76.55"), BASIS) >= D("0.10")  # type: ignore[operator]
    assert margin(D("76.54"), BASIS) < D("0.10")  # type: ignore[operator]
    # a margin no price reaches: no floor
    assert floor_price(BASIS, D("0.85")) is None


def test_order_line_worked_example_keeps_the_deposit_out_of_revenue() -> None:
    result = line_profit(
        quantity=D(2),
        sale_price=D(100),
        vat_rate=D("0.21"),
        voucher_share=D(0),
        unit_cost=D(60),
        commission_rate=D("0.10"),
        shipping_share=D(5),
        deposit=D("1.21"),
    )
    assert (result.revenue, result.cost, result.commission) == (D(200), D(120), D("24.2"))
    assert result.profit == D("50.8")
    assert result.deposit == D("1.21")
    unknown = line_profit(
        quantity=D(1),
        sale_price=D(10),
        vat_rate=D(0),
        voucher_share=D(0),
        unit_cost=None,
        commission_rate=D(0),
        shipping_share=D(0),
        deposit=D(0),
    )
    assert unknown.profit is None


def test_fixed_costs_per_order_add_the_fbe_fee_to_fbe_orders_only() -> None:
    settings = PricingSettings(
        shipping_per_order=D(4), packaging_per_order=D(1), fbe_fee_per_order=D("7.5")
    )
    costs = Costs(offers={}, categories={}, settings=settings)
    assert costs.fixed_per_order(fbe=False) == D(5)
    assert costs.fixed_per_order(fbe=True) == D("12.5")
    assert Costs(offers={}, categories={}, settings=None).fixed_per_order(fbe=True) == 0


def offer(**changes: object) -> OfferView:
    values: dict[str, object] = {
        "emag_id": 7,
        "category_id": 3,
        "brand": "Acme",
        "currency": "RON",
        "sale_price": D(100),
        "min_sale_price": D(60),
        "max_sale_price": D(160),
        "buy_button_rank": 2,
        "best_offer_sale_price": D(90),
    }
    values.update(changes)
    return OfferView(**values)  # type: ignore[arg-type]


WIN = Rule(
    id=1,
    scope="offers",
    strategy="win",
    step=D("0.50"),
    min_margin=D("0.10"),
    offer_ids=frozenset({7}),
    cooldown_minutes=30,
    max_changes_per_day=3,
    stop_after_steps=2,
)


def test_win_undercuts_the_best_offer_when_the_floor_allows() -> None:
    d = decide(WIN, offer(), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.price_after, d.floor) == (
        "change",
        "target",
        D("89.50"),
        D("76.55"),
    )
    assert d.profit_after == unit_profit(D("89.50"), BASIS)


def test_win_stops_at_the_floor_and_then_holds_there() -> None:
    d = decide(WIN, offer(best_offer_sale_price=D(40)), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.price_after) == ("change", "at_floor", D("76.55"))
    again = decide(
        WIN, offer(sale_price=D("76.55"), best_offer_sale_price=D(40)), BASIS, StateView(), NOW
    )
    assert (again.action, again.reason, again.price_after) == ("hold", "at_floor", None)


def test_bounds_no_floor_and_floor_above_max() -> None:
    assert decide(WIN, offer(), None, StateView(), NOW).reason == "no_floor"
    assert decide(WIN, offer(max_sale_price=None), BASIS, StateView(), NOW).reason == "no_bounds"
    above = decide(WIN, offer(max_sale_price=D(70)), BASIS, StateView(), NOW)
    assert (above.action, above.reason) == ("skip", "floor_above_max")
    # never under min_sale_price even when the floor is lower
    low = decide(
        WIN, offer(min_sale_price=D(85), best_offer_sale_price=D(80)), BASIS, StateView(), NOW
    )
    assert low.price_after == D(85)
    # never above max_sale_price (margin strategy with a high target)
    margin_rule = Rule(
        id=2,
        scope="account",
        strategy="margin",
        step=D(1),
        min_margin=D("0.1"),
        target_margin=D("0.6"),
    )
    assert decide(margin_rule, offer(), BASIS, StateView(), NOW).price_after == D(160)
    # a cent under recommended_price (eMAG refuses a sale price that is not below it)
    promoted = offer(recommended_price=D(120))
    assert decide(margin_rule, promoted, BASIS, StateView(), NOW).price_after == D("119.99")
    assert decide(WIN, offer(recommended_price=D(70)), BASIS, StateView(), NOW).reason == (
        "floor_above_max"
    )


def test_cooldown_daily_limit_and_steps_without_winning() -> None:
    recent = StateView(day=NOW.date(), changes_today=1, last_change_at=NOW - timedelta(minutes=10))
    assert decide(WIN, offer(), BASIS, recent, NOW).reason == "cooldown"
    limit = StateView(day=NOW.date(), changes_today=3, last_change_at=NOW - timedelta(hours=2))
    assert decide(WIN, offer(), BASIS, limit, NOW).reason == "daily_limit"
    yesterday = StateView(day=NOW.date() - timedelta(days=1), changes_today=3)
    assert decide(WIN, offer(), BASIS, yesterday, NOW).action == "change"
    tired = StateView(steps_without_win=2)
    d = decide(WIN, offer(), BASIS, tired, NOW)
    assert (d.action, d.reason) == ("skip", "no_win") and d.pause
    assert decide(WIN, offer(), BASIS, StateView(paused_reason="refused"), NOW).reason == "paused"
    assert decide(WIN, offer(buy_button_rank=1), BASIS, StateView(), NOW).reason == "winning"


def test_the_most_specific_rule_applies() -> None:
    brand = Rule(id=5, scope="brand", strategy="match", step=D(1), min_margin=D(0), brand="acme")
    category = Rule(
        id=3, scope="category", strategy="match", step=D(1), min_margin=D(0), category_id=3
    )
    assert pick_rule([category, brand], offer()) is brand
    assert pick_rule([category, brand, WIN], offer()) is WIN
    assert pick_rule([category], offer(category_id=4)) is None
