"""The analytics formulas on hand-built numbers (no database)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace

import pytest

from magflow.customers import analytics
from magflow.customers.analytics import AnalyticsConfig, TierThresholds

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spent", "currency", "tier"),
    [
        ("0", "RON", "bronze"),
        ("499.99", "RON", "bronze"),
        ("500", "RON", "silver"),
        ("1999.9999", "RON", "silver"),
        ("2000", "RON", "gold"),
        ("4999.99", "RON", "gold"),
        ("5000", "RON", "platinum"),
        ("39999", "HUF", "bronze"),
        ("40000", "HUF", "silver"),
        ("400000", "HUF", "platinum"),
        ("200", "BGN", "silver"),
        ("799", "BGN", "silver"),
        ("800", "BGN", "gold"),
        ("500", "XYZ", "silver"),  # unknown currency: the RON row
        ("500", None, "silver"),
    ],
)
def test_tier_at_the_thresholds(spent: str, currency: str | None, tier: str) -> None:
    assert analytics.tier_for(Decimal(spent), currency) == tier


def test_tier_thresholds_are_configurable() -> None:
    config = AnalyticsConfig(
        tier_thresholds={"RON": TierThresholds(Decimal(10), Decimal(20), Decimal(30))}
    )
    assert analytics.tier_for(Decimal(10), "RON", config) == "silver"
    assert analytics.tier_for(Decimal(30), "HUF", config) == "platinum"  # fallback row
    with pytest.raises(ValueError, match="silver <= gold"):
        TierThresholds(Decimal(20), Decimal(10), Decimal(30))
    with pytest.raises(ValueError, match="fallback"):
        AnalyticsConfig(tier_thresholds={"HUF": TierThresholds(Decimal(1), Decimal(2), Decimal(3))})
    with pytest.raises(ValueError, match="sum to 1"):
        AnalyticsConfig(weight_recency=0.5)


def loyalty(kept: int, spent: str, days: float | None, currency: str = "RON") -> int:
    return analytics.loyalty_score(
        orders=kept,
        cancelled=0,
        returned=0,
        total_spent=Decimal(spent),
        currency=currency,
        last_order_at=None if days is None else NOW - timedelta(days=days),
        now=NOW,
    )


def test_loyalty_score_rfm_halves() -> None:
    # Each term is worth half at its half-value: 100 * (0.35 + 0.35 + 0.30) / 2.
    assert loyalty(3, "1000", 60) == 50
    assert loyalty(3, "80000", 60, currency="HUF") == 50
    # Today, nothing kept: recency only.
    assert loyalty(0, "0", 0) == 35
    assert loyalty(0, "0", None) == 0
    # 9 kept, 3000 spent, today: 35 + 35 * 0.75 + 30 * 0.75 = 83.75.
    assert loyalty(9, "3000", 0) == 84
    assert analytics.loyalty_band(84) == "80-100"
    assert analytics.loyalty_band(50) == "40-59"
    assert analytics.loyalty_band(0) == "0-19"


def test_loyalty_is_not_capped() -> None:
    # Every extra order and every extra unit of spend still counts (the ancestor capped counts).
    raws = [
        analytics.loyalty_raw(
            orders=n,
            cancelled=0,
            returned=0,
            total_spent=Decimal(100 * n),
            currency="RON",
            last_order_at=NOW,
            now=NOW,
        )
        for n in (1, 10, 50, 200)
    ]
    assert raws == sorted(raws) and len(set(raws)) == 4
    assert raws[-1] < 100
    # Recency falls with every day of absence.
    assert loyalty(5, "1000", 10) > loyalty(5, "1000", 11) > loyalty(5, "1000", 400) > 0


def test_loyalty_counts_kept_orders_only() -> None:
    kwargs = {"total_spent": Decimal(0), "currency": "RON", "last_order_at": None, "now": NOW}
    cancelled = analytics.loyalty_raw(orders=4, cancelled=2, returned=2, **kwargs)  # type: ignore[arg-type]
    assert cancelled == 0


def test_rounding_is_half_up() -> None:
    assert analytics.round_score(49.5) == 50
    assert analytics.round_score(49.4999) == 49
    assert analytics.round_score(0.5) == 1


@pytest.mark.parametrize(
    ("orders", "cancelled", "returned", "cod", "level", "score"),
    [
        (0, 0, 0, 0, "low", 0.0),
        (10, 0, 0, 10, "low", 0.0),  # COD alone is no risk
        (10, 1, 0, 0, "low", 0.06),
        (10, 1, 0, 10, "low", 0.09),  # amplified by COD, still low
        (10, 2, 0, 10, "medium", 0.18),
        (4, 0, 2, 0, "medium", 0.2),
        (2, 1, 0, 0, "high", 0.3),  # exactly RISK_HIGH
        (1, 1, 0, 1, "high", 0.9),
        (10, 1, 1, 0, "medium", 0.1),  # exactly RISK_MEDIUM
    ],
)
def test_risk(
    orders: int, cancelled: int, returned: int, cod: int, level: str, score: float
) -> None:
    value = analytics.risk_score(orders, cancelled, returned, cod)
    assert value == pytest.approx(score)
    assert analytics.risk_level_for(value) == level


@pytest.mark.parametrize(
    ("main", "fbe", "channel"),
    [
        (1, 0, "main"),
        (4, 1, "main"),
        (3, 1, "mixed"),
        (1, 1, "mixed"),
        (1, 4, "fbe"),
        (0, 5, "fbe"),
        (0, 0, "none"),
    ],
)
def test_preferred_channel(main: int, fbe: int, channel: str) -> None:
    assert analytics.preferred_channel(main, fbe) == channel


def test_channel_dominance_is_configurable() -> None:
    config = AnalyticsConfig(channel_dominance=Fraction(1, 1))
    assert analytics.preferred_channel(4, 1, config) == "mixed"
    assert analytics.preferred_channel(4, 0, config) == "main"


def test_repeat_aov_and_month() -> None:
    assert analytics.is_repeat(2, 0)
    assert not analytics.is_repeat(2, 1)
    assert analytics.is_repeat(3, 1)
    assert analytics.average_order_value(Decimal("100"), 3) == Decimal("33.33")
    assert analytics.average_order_value(Decimal("0"), 0) is None
    assert analytics.month_start(NOW) == datetime(2026, 11, 1, tzinfo=UTC)


def segment(currency: str, customers: int, **counts: int) -> dict[str, object]:
    row: dict[str, object] = {
        "currency": currency,
        "customers": customers,
        "orders": 0,
        "cancelled": 0,
        "returned": 0,
        "spent": Decimal(0),
        "active": 0,
        "new": 0,
        "repeat": 0,
    }
    for name in analytics.TIERS:
        row[f"tier:{name}"] = 0
    for name in analytics.CHANNELS:
        row[f"channel:{name}"] = 0
    for name in analytics.RISK_LEVELS:
        row[f"risk:{name}"] = 0
    for _, name in analytics.LOYALTY_BANDS:
        row[f"band:{name}"] = 0
    row.update(counts)
    return row


def test_summarize_folds_segments() -> None:
    ron = segment(
        "RON",
        3,
        orders=9,
        cancelled=1,
        active=3,
        repeat=3,
        **{"tier:gold": 3, "channel:mixed": 3, "risk:low": 3, "band:60-79": 3},
    )
    ron["spent"] = Decimal("7500.50")
    huf = segment(
        "HUF",
        1,
        orders=1,
        new=1,
        **{"tier:bronze": 1, "channel:fbe": 1, "risk:high": 1, "band:0-19": 1},
    )
    huf["spent"] = Decimal("100")
    summary = analytics.summarize([ron, huf], NOW)  # type: ignore[list-item]
    assert summary["total_customers"] == 4
    assert summary["total_orders"] == 10
    assert summary["cancelled_orders"] == 1
    assert summary["active_customers"] == 3
    assert summary["new_this_month"] == 1
    assert summary["repeat_customers"] == 3
    assert summary["repeat_customer_rate"] == 0.75
    assert summary["tier_distribution"] == {"bronze": 1, "silver": 0, "gold": 3, "platinum": 0}
    assert summary["channel_distribution"] == {"main": 0, "fbe": 1, "mixed": 3, "none": 0}
    assert summary["risk_distribution"] == {"low": 3, "medium": 0, "high": 1}
    assert summary["loyalty_distribution"] == {
        "0-19": 1,
        "20-39": 0,
        "40-59": 0,
        "60-79": 3,
        "80-100": 0,
    }
    assert summary["spend_by_currency"] == {"HUF": Decimal("100.00"), "RON": Decimal("7500.50")}
    empty = analytics.summarize([], NOW)
    assert empty["repeat_customer_rate"] == 0.0 and empty["total_customers"] == 0


def test_a_config_fingerprint_names_its_parameters_and_is_kept() -> None:
    """The summary's cache key holds it: equal parameters, equal fingerprints; any parameter
    changed, another one; asked again (it is computed once), the same."""
    default = analytics.DEFAULT_CONFIG.fingerprint()
    assert analytics.AnalyticsConfig().fingerprint() == default
    other = analytics.AnalyticsConfig(active_days=7)
    assert other.fingerprint() != default
    assert other.fingerprint() == analytics.AnalyticsConfig(active_days=7).fingerprint()
    assert analytics.DEFAULT_CONFIG.fingerprint() == default


def _by_the_functions(
    customer: SimpleNamespace, now: datetime, config: AnalyticsConfig
) -> tuple[object, ...]:
    """A customer's facts computed by the documented formula functions, one by one."""
    n, c, r = customer.orders_count, customer.cancelled_count, customer.returned_count
    kept = analytics.kept_orders(n, c, r)
    spent = Decimal(customer.total_spent or 0)
    score = analytics.loyalty_score(
        orders=n,
        cancelled=c,
        returned=r,
        total_spent=spent,
        currency=customer.currency,
        last_order_at=customer.last_order_at,
        now=now,
        config=config,
    )
    risk = analytics.risk_score(n, c, r, customer.cod_count, config)
    return (
        kept,
        analytics.average_order_value(spent, analytics.spent_orders(kept, customer.spent_orders)),
        analytics.tier_for(spent, customer.currency, config),
        score,
        analytics.loyalty_band(score),
        round(risk, 4),
        analytics.risk_level_for(risk, config),
        analytics.preferred_channel(customer.main_orders, customer.fbe_orders, config),
        round(c / n, 4) if n else 0.0,
        round(r / n, 4) if n else 0.0,
        round(customer.cod_count / n, 4) if n else 0.0,
        analytics.is_repeat(n, c, config),
    )


@pytest.mark.parametrize(
    "config",
    [
        AnalyticsConfig(),
        AnalyticsConfig(
            tier_thresholds={"RON": TierThresholds(Decimal(1), Decimal(2), Decimal(3))},
            weight_recency=0.5,
            weight_frequency=0.25,
            weight_monetary=0.25,
            recency_half_days=7,
            frequency_half_orders=1,
            monetary_half={"RON": Decimal(50)},
            risk_weight_cancelled=1.0,
            risk_weight_returned=0.5,
            risk_cod_amplifier=2.0,
            risk_high=0.5,
            risk_medium=0.2,
            channel_dominance=Fraction(3, 5),
            repeat_min_orders=4,
        ),
    ],
)
def test_insight_is_the_formula_functions(config: AnalyticsConfig) -> None:
    """``insight`` (the formulas inlined, for the listing's rows) answers what the formula
    functions answer, field for field, over many customers: small and large counts, spend at and
    around the thresholds, in each currency, none and unknown, with and without an order date."""
    rng = random.Random(18)
    amounts = ["0", "0.0000", "0.01", "499.9999", "500", "500.0001", "1999.995", "2000", "5000",
               "40000", "123456.7891", "-3.5"]  # fmt: skip
    currencies = ["RON", "BGN", "EUR", "HUF", "XYZ", None]
    for _ in range(3000):
        n = rng.choice([0, 1, 2, 3, 7, 13, 800, rng.randint(0, 10_000)])
        c = rng.randint(0, n)
        r = rng.randint(0, n - c)
        cod = rng.randint(0, n)
        main = rng.randint(0, n)
        amount = rng.choice([*amounts, str(Decimal(rng.randint(0, 10**9)) / 10_000)])
        ago = timedelta(seconds=rng.randint(0, 10**8), microseconds=rng.randint(0, 999_999))
        customer = SimpleNamespace(
            orders_count=n,
            cancelled_count=c,
            returned_count=r,
            cod_count=cod,
            main_orders=main,
            fbe_orders=n - main,
            total_spent=Decimal(amount),
            spent_orders=rng.choice([None, n - c - r, rng.randint(0, n)]),
            currency=rng.choice(currencies),
            last_order_at=rng.choice([None, NOW, NOW + timedelta(hours=1), NOW - ago]),
        )
        expected = _by_the_functions(customer, NOW, config)
        assert tuple(analytics.insight(customer, NOW, config)) == expected, customer  # type: ignore[arg-type]


def _counted(orders: int, cancelled: int) -> SimpleNamespace:
    return SimpleNamespace(
        orders_count=orders,
        cancelled_count=cancelled,
        returned_count=0,
        cod_count=0,
        main_orders=orders,
        fbe_orders=0,
        total_spent=Decimal("10"),
        spent_orders=None,
        currency="RON",
        last_order_at=NOW,
    )


def test_what_the_counts_say_is_kept_per_config_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the order counts alone say (risk, channel, rates, repeat) is kept per config: a
    config with other risk thresholds answers the same counts with its own level, before and
    after the default config kept them. At most ``COUNTS_KEPT`` counts are kept per config."""
    customer = _counted(10, 1)
    default_level = analytics.risk_level_for(analytics.risk_score(10, 1, 0, 0))
    strict = AnalyticsConfig(risk_medium=0.0, risk_high=0.001)
    assert default_level != "high"
    assert analytics.insight(customer, NOW).risk_level == default_level  # type: ignore[arg-type]
    assert analytics.insight(customer, NOW, strict).risk_level == "high"  # type: ignore[arg-type]
    assert analytics.insight(customer, NOW).risk_level == default_level  # type: ignore[arg-type]

    monkeypatch.setattr(analytics, "COUNTS_KEPT", 3)
    config = AnalyticsConfig()
    for orders in range(10):
        facts = analytics.insight(_counted(orders, 0), NOW, config)  # type: ignore[arg-type]
        assert facts.kept_orders == orders
        assert len(config._by_counts) <= 3
