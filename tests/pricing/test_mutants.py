"""The edges of the pricing formulas and the repricing rules, with worked examples (pure logic,
no I/O): the rounding of every amount (a floor is rounded up, the other amounts half up), the
boundaries of each guard (a floor equal to the ceiling, a cool-down just over, the first change
of a day), and which rule applies. Written from the mutation run's survivors (``make mutate``,
module ``repricing``); each asserts what an operator or eMAG sees."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D

from magflow.pricing.formulas import (
    CostBasis,
    commission,
    floor_price,
    line_profit,
    margin,
    price_for_margin,
    unit_profit,
)
from magflow.pricing.models import PricingRule
from magflow.pricing.rules import Decision, OfferView, Rule, StateView, as_rule, decide, pick_rule
from tests.pricing.test_formulas import BASIS, NOW, WIN, offer

# 1 - 0.1 x 1 - 0.2 = 0.7: a floor of (c + F) / 0.7.
PLAIN = CostBasis(unit_cost=D(15), commission_rate=D("0.1"), vat_rate=D(0), fixed_per_order=D(5))

MARGIN = Rule(
    id=2,
    scope="account",
    strategy="margin",
    step=D(1),
    min_margin=D("0.1"),
    target_margin=D("0.2"),
)
MATCH = Rule(
    id=3,
    scope="offers",
    strategy="match",
    step=D("0.50"),
    min_margin=D("0.10"),
    offer_ids=frozenset({7}),
    stop_after_steps=2,
)


def decided(
    rule: Rule, view: OfferView, basis: CostBasis | None, state: StateView, now: datetime
) -> Decision:
    """``decide``, and every decision says why (the operator reads it beside the reason)."""
    d = decide(rule, view, basis, state, now)
    assert d.detail, d
    return d


# -- formulas ----------------------------------------------------------------------------------


def test_commission_is_on_the_price_the_buyer_pays() -> None:
    # 0.15 x 100 x 1.21 (VAT included); without VAT it is the plain rate
    assert commission(D(100), BASIS) == D("18.15")
    assert commission(D(100), PLAIN) == D(10)
    # profit at 100: 100 - 50 - 18.15 - 5
    assert unit_profit(D(100), BASIS) == D("26.85")


def test_unit_profit_rounds_a_half_up_to_four_decimals() -> None:
    # 101.30 - 50 - 0.15 x 101.30 x 1.21 - 5 = 101.30 - 50 - 18.38595 - 5 = 27.91405
    assert unit_profit(D("101.30"), BASIS) == D("27.9141")


def test_margin_of_small_zero_and_negative_prices() -> None:
    assert margin(D(0), BASIS) is None
    assert margin(D(-1), BASIS) is None
    free = CostBasis(unit_cost=D(0), commission_rate=D("0.1"), vat_rate=D(0), fixed_per_order=D(0))
    assert margin(D("0.50"), free) == D("0.9")  # (0.50 - 0.05) / 0.50
    # a loss is a negative margin: (10 - 15 - 1 - 5) / 10
    assert margin(D(10), PLAIN) == D("-1.1")


def test_margin_rounds_a_half_up_to_six_decimals() -> None:
    # 200 - 49.9999 - 0.15 x 200 x 1.21 - 5 = 108.7001; / 200 = 0.5435005
    basis = CostBasis(
        unit_cost=D("49.9999"), commission_rate=D("0.15"), vat_rate=D("0.21"), fixed_per_order=D(5)
    )
    assert margin(D(200), basis) == D("0.543501")


def test_floor_is_rounded_up_so_that_a_cent_less_misses_the_margin() -> None:
    # (15 + 5) / 0.7 = 28.5714... -> 28.58, not 28.57
    assert floor_price(PLAIN, D("0.2")) == D("28.58")
    assert margin(D("28.58"), PLAIN) >= D("0.2")  # type: ignore[operator]
    assert margin(D("28.57"), PLAIN) < D("0.2")  # type: ignore[operator]
    # an exact quotient stays as it is: 20 / 0.8 = 25.00
    assert floor_price(PLAIN, D("0.1")) == D("25.00")


def test_floor_of_a_margin_that_takes_the_whole_price_is_none() -> None:
    # 1 - 0.15 x 1.21 - 0.8185 = 0 exactly: no price reaches that margin (and no division by 0)
    assert floor_price(BASIS, D("0.8185")) is None
    assert floor_price(BASIS, D("0.8184")) is not None


def test_floor_is_never_zero_and_keeps_small_amounts() -> None:
    small = CostBasis(
        unit_cost=D("0.30"), commission_rate=D("0.1"), vat_rate=D(0), fixed_per_order=D(0)
    )
    assert floor_price(small, D("0.1")) == D("0.38")  # 0.30 / 0.8 = 0.375, rounded up
    nothing = CostBasis(
        unit_cost=D(0), commission_rate=D("0.1"), vat_rate=D(0), fixed_per_order=D(0)
    )
    assert floor_price(nothing, D("0.1")) == D("0.01")


def test_price_for_a_target_margin() -> None:
    # 55 / (1 - 0.1815 - 0.20) = 88.9248... -> 88.93
    assert price_for_margin(BASIS, D("0.20")) == D("88.93")
    assert margin(D("88.93"), BASIS) >= D("0.20")  # type: ignore[operator]
    assert price_for_margin(BASIS, D("0.85")) is None


def test_order_line_voucher_lowers_revenue_and_ties_round_half_up() -> None:
    # 10 + (-0.00015) = 9.99985 -> 9.9999 (revenue and profit)
    voucher = line_profit(
        quantity=D(1),
        sale_price=D(10),
        vat_rate=D(0),
        voucher_share=D("-0.00015"),
        unit_cost=D(0),
        commission_rate=D(0),
        shipping_share=D(0),
        deposit=D(0),
    )
    assert (voucher.revenue, voucher.profit, voucher.cost) == (D("9.9999"), D("9.9999"), D(0))
    # revenue 3 x 10.15 = 30.45; commission 0.1 x 30.45 x 1.21 = 3.68445 -> 3.6845;
    # cost 3 x 0.33335 = 1.00005 -> 1.0001; shipping 2.00005 -> 2.0001; deposit 0.60505 ->
    # 0.6051; profit 30.45 - 1.00005 - 3.68445 - 2.00005 = 23.76545 -> 23.7655
    ties = line_profit(
        quantity=D(3),
        sale_price=D("10.15"),
        vat_rate=D("0.21"),
        voucher_share=D(0),
        unit_cost=D("0.33335"),
        commission_rate=D("0.1"),
        shipping_share=D("2.00005"),
        deposit=D("0.60505"),
    )
    assert (ties.revenue, ties.commission, ties.cost, ties.shipping, ties.deposit) == (
        D("30.45"),
        D("3.6845"),
        D("1.0001"),
        D("2.0001"),
        D("0.6051"),
    )
    assert ties.profit == D("23.7655")


# -- which rule --------------------------------------------------------------------------------


def test_rule_scopes_match_only_their_offers() -> None:
    account = Rule(id=9, scope="account", strategy="match", step=D(1), min_margin=D(0))
    assert account.matches(offer()) and account.matches(offer(brand=None, category_id=None))
    assert not WIN.matches(offer(emag_id=8))
    brand = Rule(id=5, scope="brand", strategy="match", step=D(1), min_margin=D(0), brand="ACME")
    assert brand.matches(offer(brand="acme"))
    assert not brand.matches(offer(brand="Other"))
    assert not brand.matches(offer(brand=None))
    no_brand = Rule(id=6, scope="brand", strategy="match", step=D(1), min_margin=D(0))
    assert not no_brand.matches(offer())


def test_the_oldest_of_equally_specific_rules_applies() -> None:
    newer = Rule(id=9, scope="account", strategy="match", step=D(1), min_margin=D(0))
    older = Rule(id=4, scope="account", strategy="win", step=D(1), min_margin=D(0))
    assert pick_rule([newer, older], offer()) is older
    assert pick_rule([older, newer], offer()) is older
    assert pick_rule([], offer()) is None


def test_a_stored_rule_is_read_as_written() -> None:
    row = PricingRule(
        id=4,
        account_id=1,
        name="n",
        scope="offers",
        category_id=12,
        brand="Acme",
        offer_ids=[7, 8],
        strategy="margin",
        step=D("0.25"),
        min_margin=D("0.05"),
        target_margin=D("0.3"),
        cooldown_minutes=45,
        max_changes_per_day=4,
        stop_after_steps=3,
    )
    assert as_rule(row) == Rule(
        id=4,
        scope="offers",
        strategy="margin",
        step=D("0.25"),
        min_margin=D("0.05"),
        target_margin=D("0.3"),
        category_id=12,
        brand="Acme",
        offer_ids=frozenset({7, 8}),
        cooldown_minutes=45,
        max_changes_per_day=4,
        stop_after_steps=3,
    )
    row.offer_ids = None
    assert as_rule(row).offer_ids == frozenset()


# -- what a rule decides -----------------------------------------------------------------------


def test_no_current_price_or_no_bounds_skips() -> None:
    for price in (None, D(0)):
        d = decided(WIN, offer(sale_price=price), BASIS, StateView(), NOW)
        assert (d.action, d.reason, d.price_after) == ("skip", "no_price", None)
    cheap = decided(WIN, offer(sale_price=D("0.50")), BASIS, StateView(), NOW)
    assert (cheap.action, cheap.price_before, cheap.price_after) == (
        "change",
        D("0.50"),
        D("89.50"),
    )
    d = decided(WIN, offer(min_sale_price=None), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.price_before) == ("skip", "no_bounds", D(100))
    unreachable = Rule(id=1, scope="account", strategy="win", step=D(1), min_margin=D("0.85"))
    d = decided(unreachable, offer(), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.floor, d.price_after) == ("skip", "no_floor", None, None)


def test_a_floor_equal_to_the_ceiling_is_honoured() -> None:
    at_max = decided(
        WIN, offer(max_sale_price=D("76.55"), best_offer_sale_price=D(40)), BASIS, StateView(), NOW
    )
    assert (at_max.action, at_max.price_after) == ("change", D("76.55"))
    # a cent under a recommended price of 76.56 is the floor too
    under = decided(
        WIN,
        offer(recommended_price=D("76.56"), best_offer_sale_price=D(40)),
        BASIS,
        StateView(),
        NOW,
    )
    assert (under.action, under.price_after) == ("change", D("76.55"))


def test_floor_above_max_says_which_bound_and_the_floor() -> None:
    by_max = decided(WIN, offer(max_sale_price=D(70)), BASIS, StateView(), NOW)
    assert (by_max.action, by_max.reason, by_max.floor) == ("skip", "floor_above_max", D("76.55"))
    assert "76.55" in by_max.detail and "max_sale_price 70" in by_max.detail
    by_recommended = decided(WIN, offer(recommended_price=D(70)), BASIS, StateView(), NOW)
    assert by_recommended.reason == "floor_above_max"
    assert "recommended_price 70" in by_recommended.detail


def test_min_sale_price_above_the_ceiling_skips_and_equal_bounds_set_that_price() -> None:
    # the floor (76.55) is under the ceiling (79.99) but eMAG's minimum (85) is not
    d = decided(WIN, offer(min_sale_price=D(85), recommended_price=D(80)), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.floor, d.price_after) == (
        "skip",
        "floor_above_max",
        D("76.55"),
        None,
    )
    fixed = decided(WIN, offer(min_sale_price=D(95), max_sale_price=D(95)), BASIS, StateView(), NOW)
    assert (fixed.action, fixed.price_after) == ("change", D(95))


def test_margin_strategy_ignores_the_competition() -> None:
    d = decided(MARGIN, offer(best_offer_sale_price=None), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.price_after) == ("change", "target", D("88.93"))
    # without a target margin it prices at the minimum margin: the floor, as its target
    plain = Rule(id=2, scope="account", strategy="margin", step=D(1), min_margin=D("0.1"))
    d = decided(plain, offer(), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.price_after) == ("change", "target", D("76.55"))
    # a target margin no price reaches: no change
    greedy = Rule(
        id=2,
        scope="account",
        strategy="margin",
        step=D(1),
        min_margin=D("0.1"),
        target_margin=D("0.85"),
    )
    d = decided(greedy, offer(), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.floor, d.price_after) == ("skip", "no_floor", D("76.55"), None)


def test_without_the_best_offer_price_win_and_match_hold() -> None:
    for rule in (WIN, MATCH):
        d = decided(rule, offer(best_offer_sale_price=None), BASIS, StateView(), NOW)
        assert (d.action, d.reason, d.floor, d.price_after) == (
            "hold",
            "no_competition",
            D("76.55"),
            None,
        )


def test_match_takes_the_best_price_and_is_never_paused_for_not_winning() -> None:
    d = decided(MATCH, offer(), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.price_after) == ("change", "target", D(90))
    tired = decided(MATCH, offer(), BASIS, StateView(steps_without_win=5), NOW)
    assert (tired.action, tired.price_after, tired.pause) == ("change", D(90), None)
    matched = decided(MATCH, offer(sale_price=D(90), buy_button_rank=1), BASIS, StateView(), NOW)
    assert (matched.action, matched.reason, matched.price_after) == ("hold", "unchanged", None)


def test_a_target_exactly_at_the_floor_is_the_target() -> None:
    # 77.05 - 0.50 = 76.55, the floor itself
    d = decided(WIN, offer(best_offer_sale_price=D("77.05")), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.price_after) == ("change", "target", D("76.55"))


def test_the_current_price_is_kept_unchanged() -> None:
    d = decided(WIN, offer(sale_price=D("89.50")), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.price_after, d.profit_after, d.floor) == (
        "hold",
        "unchanged",
        None,
        None,
        D("76.55"),
    )


def test_cooldown_ends_exactly_after_its_minutes() -> None:
    just = StateView(day=NOW.date(), changes_today=1, last_change_at=NOW - timedelta(minutes=30))
    assert decided(WIN, offer(), BASIS, just, NOW).action == "change"
    almost = StateView(
        day=NOW.date(), changes_today=1, last_change_at=NOW - timedelta(minutes=29, seconds=59)
    )
    d = decided(WIN, offer(), BASIS, almost, NOW)
    assert (d.action, d.reason, d.floor) == ("hold", "cooldown", D("76.55"))


def test_daily_limit_counts_todays_changes_only() -> None:
    once = Rule(
        id=1,
        scope="account",
        strategy="win",
        step=D("0.50"),
        min_margin=D("0.10"),
        max_changes_per_day=1,
    )
    assert decided(once, offer(), BASIS, StateView(), NOW).action == "change"
    under = StateView(day=NOW.date(), changes_today=2)
    assert decided(WIN, offer(), BASIS, under, NOW).action == "change"
    d = decided(WIN, offer(), BASIS, StateView(day=NOW.date(), changes_today=3), NOW)
    assert (d.action, d.reason, d.floor) == ("hold", "daily_limit", D("76.55"))


def test_win_pauses_only_after_its_steps_and_only_when_its_rank_is_known() -> None:
    one = decided(WIN, offer(), BASIS, StateView(steps_without_win=1), NOW)
    assert (one.action, one.pause) == ("change", None)
    unknown = decided(WIN, offer(buy_button_rank=None), BASIS, StateView(steps_without_win=2), NOW)
    assert (unknown.action, unknown.price_after, unknown.pause) == ("change", D("89.50"), None)
    d = decided(WIN, offer(), BASIS, StateView(steps_without_win=2), NOW)
    assert (d.action, d.reason, d.floor, d.price_after) == ("skip", "no_win", D("76.55"), None)
    assert d.pause is not None and "2" in d.pause


def test_a_category_rule_applies_to_its_category() -> None:
    category = Rule(
        id=3, scope="category", strategy="match", step=D(1), min_margin=D(0), category_id=3
    )
    assert pick_rule([category], offer()) is category
    assert pick_rule([category], offer(category_id=4)) is None


def test_a_paused_offer_or_one_without_unit_cost_is_skipped_with_why() -> None:
    paused = decided(WIN, offer(), BASIS, StateView(paused_reason="eMAG refused 89.50"), NOW)
    assert (paused.action, paused.reason, paused.detail, paused.price_after) == (
        "skip",
        "paused",
        "eMAG refused 89.50",
        None,
    )
    no_cost = decided(WIN, offer(), None, StateView(), NOW)
    assert (no_cost.action, no_cost.reason, no_cost.floor, no_cost.price_after) == (
        "skip",
        "no_floor",
        None,
        None,
    )


def test_win_holds_while_it_has_the_buy_button() -> None:
    d = decided(WIN, offer(buy_button_rank=1), BASIS, StateView(), NOW)
    assert (d.action, d.reason, d.floor, d.price_after) == ("hold", "winning", D("76.55"), None)


def test_no_change_ever_crosses_the_floor_or_emags_bounds() -> None:
    """Every price a rule sets, over a grid of competitors, bounds and strategies: at least the
    floor (so at least the minimum margin), within [min_sale_price, max_sale_price] and under
    recommended_price."""
    rules = (
        WIN,
        MATCH,
        MARGIN,
        Rule(id=4, scope="account", strategy="margin", step=D(1), min_margin=D("0.1")),
    )
    bests = (
        None,
        D("0.01"),
        D(40),
        D("76.54"),
        D("76.55"),
        D("76.56"),
        D("77.05"),
        D("89.99"),
        D(150),
        D(500),
    )
    bounds = (
        (D(1), D(500)),
        (D(60), D(80)),
        (D(80), D(90)),
        (D("76.55"), D("76.55")),
        (D(90), D(200)),
    )
    changes = 0
    for rule in rules:
        for best in bests:
            for low, high in bounds:
                for recommended in (None, D("85.00"), D("300")):
                    for rank in (None, 1, 2):
                        view = offer(
                            best_offer_sale_price=best,
                            min_sale_price=low,
                            max_sale_price=high,
                            recommended_price=recommended,
                            buy_button_rank=rank,
                        )
                        d = decided(rule, view, BASIS, StateView(), NOW)
                        if d.action != "change":
                            assert d.price_after is None
                            continue
                        changes += 1
                        price = d.price_after
                        assert price is not None and d.floor == D("76.55")
                        assert price >= d.floor and low <= price <= high, d
                        assert recommended is None or price < recommended, d
                        assert margin(price, BASIS) >= rule.min_margin, d  # type: ignore[operator]
                        assert d.profit_after == unit_profit(price, BASIS)
    assert changes > 100  # the grid does reach the changes it checks
