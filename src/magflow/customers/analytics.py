"""Customer analytics formulas: tier, loyalty score (RFM), risk level, preferred channel.

Every formula reads only the counters that the sync engine keeps on ``emag_customers`` by deltas
(``orders_count``, ``total_spent``, ``cancelled_count``, ``returned_count``, ``cod_count``,
``main_orders``, ``fbe_orders``, ``first_order_at``, ``last_order_at``), never ``emag_orders``.
Each one exists twice, and the tests hold the two to the same answers on both databases:

- a Python function, used for the rows of a page and documented here;
- a SQL expression over those columns (``*_sql`` / ``*_condition``), used to filter, sort and
  count over all customers with one pass of aggregate SQL (200,000 customers: one scan, no join).

Definitions (``n`` = orders placed, ``c`` = cancelled, ``r`` = returned, ``k = n - c - r`` kept
orders, ``S`` = total spent, which counts kept orders in the customer's currency only (orders in
another currency are in ``emag_customer_spend``, never added to ``S``), ``d`` = days since the last
order; the average order value is ``S`` over the kept orders in that currency, ``spent_orders``):

**Tier** by ``S`` against the thresholds of the customer's currency (customers of eMAG RO spend
RON, BG BGN/EUR, HU HUF; a currency not in the table uses the ``RON`` row):
``bronze`` below ``silver``; ``silver`` from ``silver``; ``gold`` from ``gold``; ``platinum`` from
``platinum`` (a threshold reached exactly counts: 500.00 RON is silver).

**Loyalty score** 0-100, RFM with saturating (never capped) terms, so every extra order, unit of
spend or day of absence moves it::

    R = H_r / (H_r + d)          (1 today, 0.5 after H_r days; 0 when no order date)
    F = k / (k + H_f)            (0.5 at H_f kept orders)
    M = S / (S + H_m[currency])  (0.5 at H_m spent)
    loyalty = round_half_up(100 * (W_r * R + W_f * F + W_m * M)),   W_r + W_f + W_m = 1

Bands of the summary: 0-19, 20-39, 40-59, 60-79, 80-100 (of the rounded score).

**Risk** from the cancellation and return rates, amplified by the share of cash-on-delivery
orders (a refused or returned COD parcel costs shipping both ways and is never paid)::

    risk = (W_c * c / n + W_ret * r / n) * (1 + A_cod * cod / n)    (0 when n = 0)
    high when risk >= RISK_HIGH, medium when >= RISK_MEDIUM, else low

**Preferred channel**: ``main`` when at least ``CHANNEL_DOMINANCE`` of the orders went through
MAIN (seller-fulfilled, order type 3) accounts, ``fbe`` likewise for FBE (type 2), ``mixed``
otherwise, ``none`` without orders.

**Active** customers ordered in the last ``ACTIVE_DAYS`` days; **new this month** placed their
first order since the start of the current month (UTC); **repeat customers** kept at least
``REPEAT_MIN_ORDERS`` orders that were not cancelled (``n - c``, returns count as purchases).

Defaults are the module constants below; :class:`AnalyticsConfig` overrides any of them (see
``magflow.customers.routes.analytics_config`` for how the app picks one up).

The SQL expressions are in :mod:`magflow.customers.analytics_sql`, formula for formula.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from magflow.customers.models import EmagCustomer

Tier = Literal["bronze", "silver", "gold", "platinum"]
RiskLevel = Literal["low", "medium", "high"]
Channel = Literal["main", "fbe", "mixed", "none"]

TIERS: tuple[Tier, ...] = ("bronze", "silver", "gold", "platinum")
RISK_LEVELS: tuple[RiskLevel, ...] = ("low", "medium", "high")
CHANNELS: tuple[Channel, ...] = ("main", "fbe", "mixed", "none")


@dataclass(frozen=True)
class TierThresholds:
    """Lower bounds of spend (inclusive) of the silver, gold and platinum tiers, in one currency."""

    silver: Decimal
    gold: Decimal
    platinum: Decimal

    def __post_init__(self) -> None:
        if not (0 <= self.silver <= self.gold <= self.platinum):
            raise ValueError("tier thresholds must satisfy 0 <= silver <= gold <= platinum")


# -- defaults -----------------------------------------------------------------------------------

#: Tier thresholds by currency. RON is the reference; the others are about the same amounts.
TIER_THRESHOLDS: Mapping[str, TierThresholds] = MappingProxyType(
    {
        "RON": TierThresholds(Decimal(500), Decimal(2000), Decimal(5000)),
        "BGN": TierThresholds(Decimal(200), Decimal(800), Decimal(2000)),
        "EUR": TierThresholds(Decimal(100), Decimal(400), Decimal(1000)),
        "HUF": TierThresholds(Decimal(40000), Decimal(160000), Decimal(400000)),
    }
)
#: The row used for a currency missing from a table (and for customers without a currency).
FALLBACK_CURRENCY = "RON"

#: Loyalty weights of recency, frequency and monetary value (they sum to 1).
LOYALTY_WEIGHT_RECENCY = 0.35
LOYALTY_WEIGHT_FREQUENCY = 0.35
LOYALTY_WEIGHT_MONETARY = 0.30
#: Days since the last order at which recency is worth half.
RECENCY_HALF_DAYS = 60.0
#: Kept orders at which frequency is worth half.
FREQUENCY_HALF_ORDERS = 3.0
#: Spend at which monetary value is worth half, by currency.
MONETARY_HALF: Mapping[str, Decimal] = MappingProxyType(
    {"RON": Decimal(1000), "BGN": Decimal(400), "EUR": Decimal(200), "HUF": Decimal(80000)}
)
#: Lower bounds of the loyalty bands (of the rounded 0-100 score), highest first.
LOYALTY_BANDS: tuple[tuple[int, str], ...] = (
    (80, "80-100"),
    (60, "60-79"),
    (40, "40-59"),
    (20, "20-39"),
    (0, "0-19"),
)

#: Risk weights of the cancellation and return rates, and the cash-on-delivery amplifier.
RISK_WEIGHT_CANCELLED = 0.6
RISK_WEIGHT_RETURNED = 0.4
RISK_COD_AMPLIFIER = 0.5
#: Risk at or above which a customer is ``high`` / ``medium`` risk.
RISK_HIGH = 0.30
RISK_MEDIUM = 0.10

#: Share of a customer's orders on one channel (MAIN or FBE) that makes it the preferred one.
CHANNEL_DOMINANCE = Fraction(4, 5)
#: A customer who ordered within this many days is active.
ACTIVE_DAYS = 30
#: Orders not cancelled that make a repeat customer.
REPEAT_MIN_ORDERS = 2

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class AnalyticsConfig:
    """The formulas' parameters; every default is the module constant of the same meaning."""

    tier_thresholds: Mapping[str, TierThresholds] = field(default_factory=lambda: TIER_THRESHOLDS)
    fallback_currency: str = FALLBACK_CURRENCY
    weight_recency: float = LOYALTY_WEIGHT_RECENCY
    weight_frequency: float = LOYALTY_WEIGHT_FREQUENCY
    weight_monetary: float = LOYALTY_WEIGHT_MONETARY
    recency_half_days: float = RECENCY_HALF_DAYS
    frequency_half_orders: float = FREQUENCY_HALF_ORDERS
    monetary_half: Mapping[str, Decimal] = field(default_factory=lambda: MONETARY_HALF)
    risk_weight_cancelled: float = RISK_WEIGHT_CANCELLED
    risk_weight_returned: float = RISK_WEIGHT_RETURNED
    risk_cod_amplifier: float = RISK_COD_AMPLIFIER
    risk_high: float = RISK_HIGH
    risk_medium: float = RISK_MEDIUM
    channel_dominance: Fraction = CHANNEL_DOMINANCE
    active_days: int = ACTIVE_DAYS
    repeat_min_orders: int = REPEAT_MIN_ORDERS
    #: What the order counts alone say, per counts (:func:`facts`); not a parameter.
    _by_counts: dict[tuple[int, ...], tuple[Any, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        weights = (self.weight_recency, self.weight_frequency, self.weight_monetary)
        if min(weights) < 0 or not math.isclose(sum(weights), 1.0):
            raise ValueError("loyalty weights must be non-negative and sum to 1")
        if self.recency_half_days <= 0 or self.frequency_half_orders <= 0:
            raise ValueError("half-values must be positive")
        if any(v <= 0 for v in self.monetary_half.values()):
            raise ValueError("monetary half-values must be positive")
        if not 0 <= self.risk_medium <= self.risk_high:
            raise ValueError("risk thresholds must satisfy 0 <= medium <= high")
        if not Fraction(1, 2) < self.channel_dominance <= 1:
            raise ValueError("channel dominance must be in (1/2, 1]")
        for table in (self.tier_thresholds, self.monetary_half):
            if self.fallback_currency not in table:
                raise ValueError(f"the fallback currency {self.fallback_currency} needs a row")

    def thresholds(self, currency: str | None) -> TierThresholds:
        return self.tier_thresholds.get(
            currency or "", self.tier_thresholds[self.fallback_currency]
        )

    def half_spend(self, currency: str | None) -> Decimal:
        return self.monetary_half.get(currency or "", self.monetary_half[self.fallback_currency])

    def fingerprint(self) -> str:
        """A short digest of the parameters, part of cache keys so two configs never share.
        Computed once per config (the parameters never change; every listing asks for it)."""
        known: str | None = self.__dict__.get("_fingerprint")
        if known is None:
            known = self._digest()
            object.__setattr__(self, "_fingerprint", known)
        return known

    def _digest(self) -> str:
        text = repr(
            (
                sorted(self.tier_thresholds.items()),
                sorted(self.monetary_half.items()),
                {
                    k: v
                    for k, v in vars(self).items()
                    if k not in ("tier_thresholds", "monetary_half", "_fingerprint", "_by_counts")
                },
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]


DEFAULT_CONFIG = AnalyticsConfig()


# -- the formulas in Python ---------------------------------------------------------------------


def kept_orders(orders: int, cancelled: int, returned: int) -> int:
    """Orders neither cancelled nor returned: the ones spend counts (``total_spent`` only those in
    the customer's currency, see :func:`spent_orders`)."""
    return max(0, orders - cancelled - returned)


def spent_orders(kept: int, in_currency: int | None) -> int:
    """The kept orders that ``total_spent`` counts: those in the customer's currency
    (``spent_orders``); every kept order on rows written before that column existed (None)."""
    return kept if in_currency is None else in_currency


_CENT = Decimal("0.01")


def average_order_value(total_spent: Decimal, kept: int) -> Decimal | None:
    """Spend per kept order, to the cent; None without kept orders."""
    if kept <= 0:
        return None
    return (Decimal(total_spent) / kept).quantize(_CENT)


def tier_for(
    total_spent: Decimal, currency: str | None, config: AnalyticsConfig = DEFAULT_CONFIG
) -> Tier:
    t = config.thresholds(currency)
    if total_spent >= t.platinum:
        return "platinum"
    if total_spent >= t.gold:
        return "gold"
    if total_spent >= t.silver:
        return "silver"
    return "bronze"


def days_since(moment: datetime | None, now: datetime) -> float | None:
    if moment is None:
        return None
    return max(0.0, (now - moment).total_seconds() / SECONDS_PER_DAY)


def recency_score(
    last_order_at: datetime | None, now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG
) -> float:
    """``H_r / (H_r + d)``: 1 for an order now, 0.5 after ``recency_half_days``; 0 if never."""
    days = days_since(last_order_at, now)
    if days is None:
        return 0.0
    return config.recency_half_days / (config.recency_half_days + days)


def frequency_score(kept: int, config: AnalyticsConfig = DEFAULT_CONFIG) -> float:
    """``k / (k + H_f)``."""
    if kept <= 0:
        return 0.0
    return kept / (kept + config.frequency_half_orders)


def monetary_score(
    total_spent: Decimal, currency: str | None, config: AnalyticsConfig = DEFAULT_CONFIG
) -> float:
    """``S / (S + H_m)`` with the half-value of the customer's currency."""
    spent = float(total_spent)
    if spent <= 0:
        return 0.0
    return spent / (spent + float(config.half_spend(currency)))


def loyalty_raw(
    *,
    orders: int,
    cancelled: int,
    returned: int,
    total_spent: Decimal,
    currency: str | None,
    last_order_at: datetime | None,
    now: datetime,
    config: AnalyticsConfig = DEFAULT_CONFIG,
) -> float:
    """The unrounded loyalty score in [0, 100]."""
    kept = kept_orders(orders, cancelled, returned)
    return _loyalty_of_kept(kept, total_spent, currency, last_order_at, now, config)


def _loyalty_of_kept(
    kept: int,
    total_spent: Decimal,
    currency: str | None,
    last_order_at: datetime | None,
    now: datetime,
    config: AnalyticsConfig,
) -> float:
    """:func:`loyalty_raw` of ``kept`` orders (positional: :func:`insight` runs per listed row)."""
    return 100.0 * (
        config.weight_recency * recency_score(last_order_at, now, config)
        + config.weight_frequency * frequency_score(kept, config)
        + config.weight_monetary * monetary_score(total_spent, currency, config)
    )


def round_score(raw: float) -> int:
    """Half up, so that ``score >= x`` is exactly ``raw >= x - 0.5`` (what the SQL filters use)."""
    return math.floor(raw + 0.5)


def loyalty_score(**kwargs: Any) -> int:
    """The loyalty score 0-100 (see the module docstring); arguments of :func:`loyalty_raw`."""
    return round_score(loyalty_raw(**kwargs))


def loyalty_band(score: int) -> str:
    for lower, name in LOYALTY_BANDS:
        if score >= lower:
            return name
    return LOYALTY_BANDS[-1][1]


def risk_score(
    orders: int,
    cancelled: int,
    returned: int,
    cod: int,
    config: AnalyticsConfig = DEFAULT_CONFIG,
) -> float:
    """``(W_c c/n + W_ret r/n) (1 + A_cod cod/n)``; 0 without orders."""
    if orders <= 0:
        return 0.0
    base = (config.risk_weight_cancelled * cancelled + config.risk_weight_returned * returned) / (
        orders
    )
    return base * (1 + config.risk_cod_amplifier * cod / orders)


def risk_level_for(score: float, config: AnalyticsConfig = DEFAULT_CONFIG) -> RiskLevel:
    if score >= config.risk_high:
        return "high"
    if score >= config.risk_medium:
        return "medium"
    return "low"


def preferred_channel(
    main_orders: int, fbe_orders: int, config: AnalyticsConfig = DEFAULT_CONFIG
) -> Channel:
    """``main``/``fbe`` when that channel has at least ``channel_dominance`` of the orders."""
    total = main_orders + fbe_orders
    if total <= 0:
        return "none"
    d = config.channel_dominance
    if main_orders * d.denominator >= d.numerator * total:
        return "main"
    if fbe_orders * d.denominator >= d.numerator * total:
        return "fbe"
    return "mixed"


def is_repeat(orders: int, cancelled: int, config: AnalyticsConfig = DEFAULT_CONFIG) -> bool:
    return orders - cancelled >= config.repeat_min_orders


def month_start(now: datetime) -> datetime:
    """The first instant of ``now``'s month, in UTC."""
    now = now.astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def active_since(now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG) -> datetime:
    return now - timedelta(days=config.active_days)


class CustomerInsight(NamedTuple):
    """What the formulas say about one customer (a tuple: built for every listed row, and a
    frozen dataclass takes as long to build as the formulas take to compute)."""

    kept_orders: int
    average_order_value: Decimal | None
    tier: Tier
    loyalty_score: int
    loyalty_band: str
    risk_score: float
    risk_level: RiskLevel
    preferred_channel: Channel
    cancellation_rate: float
    return_rate: float
    cod_share: float
    is_repeat: bool


def insight(
    customer: EmagCustomer, now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG
) -> CustomerInsight:
    """What the formulas say about ``customer`` at ``now`` (its stored counters)."""
    return CustomerInsight(*facts(customer, now, config))


#: Order counts whose facts a config keeps (all forgotten when that many are kept): most
#: customers have one to a few orders, so a page's rows share a few hundred count tuples.
COUNTS_KEPT = 4096


def _count_facts(
    n: int, c: int, r: int, cod: int, main: int, fbe: int, config: AnalyticsConfig
) -> tuple[Any, ...]:
    """What the order counts alone say: kept orders, the rounded risk score and its level, the
    preferred channel, the three rates and whether the customer is a repeat one (risk_score,
    risk_level_for, preferred_channel, is_repeat; the rates rounded as :func:`facts` says)."""
    kept = n - c - r
    if kept < 0:
        kept = 0
    if n > 0:
        risk = (config.risk_weight_cancelled * c + config.risk_weight_returned * r) / n
        risk = risk * (1 + config.risk_cod_amplifier * cod / n)
        rates = (round(c / n, 4), round(r / n, 4), round(cod / n, 4))
    else:
        risk = 0.0
        rates = (0.0, 0.0, 0.0)
    level: RiskLevel = (
        "high" if risk >= config.risk_high else "medium" if risk >= config.risk_medium else "low"
    )
    return (
        kept,
        round(risk, 4),
        level,
        preferred_channel(main, fbe, config),
        *rates,
        n - c >= config.repeat_min_orders,
    )


def facts(customer: EmagCustomer, now: datetime, config: AnalyticsConfig) -> tuple[Any, ...]:
    """The fields of :class:`CustomerInsight`, in its order, from a customer's counters (an
    ``EmagCustomer``, or a listing's row read as one).

    Every formula of the functions above, inlined with the same operations in the same order
    (so the same floats): this runs for every row of every customers page, where a call per
    formula cost more than the formulas (issue 18). What the order counts alone say
    (:func:`_count_facts`: half of a row's formulas) is kept per config and counts, up to
    :data:`COUNTS_KEPT` of them: the same counts always give the same answers.
    ``tests/customers/test_analytics.py`` holds it to those functions over many customers."""
    n, c, r = customer.orders_count, customer.cancelled_count, customer.returned_count
    cod, currency, last_order_at = customer.cod_count, customer.currency, customer.last_order_at
    total_spent, in_currency = customer.total_spent, customer.spent_orders
    spent = total_spent if total_spent.__class__ is Decimal else Decimal(total_spent or 0)
    main, fbe = customer.main_orders, customer.fbe_orders
    by_counts = config._by_counts
    counts = (n, c, r, cod, main, fbe)
    known = by_counts.get(counts)
    if known is None:
        known = _count_facts(n, c, r, cod, main, fbe, config)
        if len(by_counts) >= COUNTS_KEPT:
            by_counts.clear()
        by_counts[counts] = known
    kept, risk, level, channel, cancellation_rate, return_rate, cod_share, repeat = known
    # -- loyalty: R, F, M (recency_score, frequency_score, monetary_score) --
    if last_order_at is None:
        recency = 0.0
    else:
        days = (now - last_order_at).total_seconds() / SECONDS_PER_DAY
        if days < 0.0:
            days = 0.0
        recency = config.recency_half_days / (config.recency_half_days + days)
    frequency = kept / (kept + config.frequency_half_orders) if kept > 0 else 0.0
    spent_float = float(spent)
    if spent_float > 0:
        half = config.monetary_half.get(currency or "")
        if half is None:
            half = config.monetary_half[config.fallback_currency]
        monetary = spent_float / (spent_float + float(half))
    else:
        monetary = 0.0
    score = math.floor(
        100.0
        * (
            config.weight_recency * recency
            + config.weight_frequency * frequency
            + config.weight_monetary * monetary
        )
        + 0.5
    )
    band = LOYALTY_BANDS[-1][1]
    for lower, name in LOYALTY_BANDS:
        if score >= lower:
            band = name
            break
    # -- tier (tier_for) --
    thresholds = config.tier_thresholds.get(currency or "")
    if thresholds is None:
        thresholds = config.tier_thresholds[config.fallback_currency]
    tier: Tier
    if spent >= thresholds.platinum:
        tier = "platinum"
    elif spent >= thresholds.gold:
        tier = "gold"
    elif spent >= thresholds.silver:
        tier = "silver"
    else:
        tier = "bronze"
    # -- average order value (over spent_orders) --
    spent_kept = kept if in_currency is None else in_currency
    average = (spent / spent_kept).quantize(_CENT) if spent_kept > 0 else None
    return (
        kept,
        average,
        tier,
        score,
        band,
        risk,
        level,
        channel,
        cancellation_rate,
        return_rate,
        cod_share,
        repeat,
    )


__all__ = [
    "ACTIVE_DAYS",
    "CHANNELS",
    "DEFAULT_CONFIG",
    "RISK_LEVELS",
    "TIERS",
    "AnalyticsConfig",
    "CustomerInsight",
    "TierThresholds",
    "insight",
]


# -- the summary --------------------------------------------------------------------------------


def summarize(
    segments: list[dict[str, Any]], now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG
) -> dict[str, Any]:
    """Fold the rows of ``repository.customer_segments`` into the summary of all customers.

    Each row: ``currency``, ``customers``, ``orders``, ``cancelled``, ``returned``, ``spent``,
    ``active``, ``new``, ``repeat`` and one count per ``tier:<tier>``, ``channel:<channel>``,
    ``risk:<level>`` and ``band:<loyalty band>``.

    ``repeat_customer_rate`` is repeat customers / customers (0 without customers); spend is
    per currency (RON, EUR, BGN and HUF never add up); every distribution has all its keys.
    """
    tiers: dict[str, int] = dict.fromkeys(TIERS, 0)
    channels: dict[str, int] = dict.fromkeys(CHANNELS, 0)
    risks: dict[str, int] = dict.fromkeys(RISK_LEVELS, 0)
    bands: dict[str, int] = {name: 0 for _, name in reversed(LOYALTY_BANDS)}
    spend: dict[str, Decimal] = {}
    totals = dict.fromkeys(
        ("customers", "orders", "cancelled", "returned", "active", "new", "repeat"), 0
    )
    for row in segments:
        for name in totals:
            totals[name] += int(row[name])
        for names, table in (
            ("tier", tiers),
            ("channel", channels),
            ("risk", risks),
            ("band", bands),
        ):
            for key in table:
                table[key] += int(row[f"{names}:{key}"])
        currency = row["currency"] or "?"
        spend[currency] = spend.get(currency, Decimal(0)) + Decimal(str(row["spent"]))
    customers = totals["customers"]
    return {
        "generated_at": now,
        "total_customers": customers,
        "total_orders": totals["orders"],
        "cancelled_orders": totals["cancelled"],
        "returned_orders": totals["returned"],
        "spend_by_currency": {k: v.quantize(Decimal("0.01")) for k, v in sorted(spend.items())},
        "active_days": config.active_days,
        "active_customers": totals["active"],
        "new_this_month": totals["new"],
        "month_start": month_start(now),
        "repeat_customers": totals["repeat"],
        "repeat_customer_rate": round(totals["repeat"] / customers, 4) if customers else 0.0,
        "tier_distribution": tiers,
        "loyalty_distribution": bands,
        "channel_distribution": channels,
        "risk_distribution": risks,
    }
