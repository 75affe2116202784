"""The customer analytics formulas of :mod:`magflow.customers.analytics` in SQL.

This module mirrors the Python one formula for formula: each ``*_sql`` / ``*_condition`` here
computes over the ``emag_customers`` counters what the Python function it names computes for one
customer (definitions and parameters are in :mod:`magflow.customers.analytics`), so that the
listing can filter, sort and count over all customers with one pass of aggregate SQL. The tests
hold both to the same answers on SQLite and PostgreSQL. The dialect-specific pieces
(:class:`epoch_seconds`, :class:`greatest`, :class:`floor_nonnegative`) compile for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, and_, case, cast, func, literal, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement

from magflow.customers.analytics import (
    DEFAULT_CONFIG,
    LOYALTY_BANDS,
    SECONDS_PER_DAY,
    TIERS,
    AnalyticsConfig,
    TierThresholds,
)
from magflow.customers.models import EmagCustomer


class epoch_seconds(FunctionElement[float]):
    """Seconds since 1970-01-01 UTC of a timestamp column, on PostgreSQL and SQLite."""

    type = Float()
    inherit_cache = True


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # date_part() answers double precision; EXTRACT answers numeric since PostgreSQL 14 (slower).
    return f"date_part('epoch', {compiler.process(element.clauses, **kw)})"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # Timestamps are stored as UTC text; julianday() of the Unix epoch is 2440587.5.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


def _f(column: Any) -> ColumnElement[float]:
    return cast(column, Float)


def _by_currency(values: Mapping[str, Any], fallback: Any) -> ColumnElement[Any]:
    """``CASE currency WHEN ... END`` of one value per currency, ``fallback`` otherwise."""
    c = EmagCustomer
    return case(
        *[(c.currency == code, literal(value)) for code, value in values.items()],
        else_=literal(fallback),
    )


def tier_sql(config: AnalyticsConfig = DEFAULT_CONFIG) -> ColumnElement[str]:
    """The tier of each customer, as :func:`tier_for`."""
    c = EmagCustomer

    def ladder(t: TierThresholds) -> ColumnElement[str]:
        return case(
            (c.total_spent >= t.platinum, "platinum"),
            (c.total_spent >= t.gold, "gold"),
            (c.total_spent >= t.silver, "silver"),
            else_="bronze",
        )

    fallback = ladder(config.tier_thresholds[config.fallback_currency])
    known = [
        (c.currency == code, ladder(t))
        for code, t in config.tier_thresholds.items()
        if code != config.fallback_currency
    ]
    return case(*known, else_=fallback) if known else fallback


def tier_condition(tier: str, config: AnalyticsConfig = DEFAULT_CONFIG) -> ColumnElement[bool]:
    """Customers of ``tier``, as spend ranges per currency (so the spend index can serve it)."""
    c = EmagCustomer
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")

    def within(t: TierThresholds) -> ColumnElement[bool]:
        bounds = {
            "bronze": (None, t.silver),
            "silver": (t.silver, t.gold),
            "gold": (t.gold, t.platinum),
            "platinum": (t.platinum, None),
        }[tier]
        parts = []
        if bounds[0] is not None:
            parts.append(c.total_spent >= bounds[0])
        if bounds[1] is not None:
            parts.append(c.total_spent < bounds[1])
        return and_(*parts)

    others = [code for code in config.tier_thresholds if code != config.fallback_currency]
    branches = [and_(c.currency == code, within(config.tier_thresholds[code])) for code in others]
    fallback_rows = (
        or_(c.currency.is_(None), c.currency.not_in(others)) if others else literal(True)
    )
    branches.append(and_(fallback_rows, within(config.tier_thresholds[config.fallback_currency])))
    return or_(*branches)


class greatest(FunctionElement[float]):
    """``GREATEST(a, b)`` on PostgreSQL, ``MAX(a, b)`` (the scalar one) on SQLite."""

    type = Float()
    inherit_cache = True


@compiles(greatest, "postgresql")
def _greatest_pg(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"MAX({compiler.process(element.clauses, **kw)})"


def loyalty_sql(now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG) -> ColumnElement[float]:
    """The unrounded loyalty score in [0, 100], as :func:`loyalty_raw`.

    Written to evaluate each input once per row (it runs over every customer for the summary
    and the loyalty filters): ``H / (H + max(x, 0))`` forms instead of CASEs; a missing last
    order date makes the recency term 0."""
    c = EmagCustomer
    h_r, h_f = config.recency_half_days, config.frequency_half_orders
    days = greatest(
        (literal(now.timestamp()) - epoch_seconds(c.last_order_at)) / SECONDS_PER_DAY, 0.0
    )
    # GREATEST skips NULLs on PostgreSQL (MAX(NULL, 0) is NULL on SQLite): test the date.
    recency = case((c.last_order_at.is_(None), 0.0), else_=h_r / (h_r + days))
    kept = greatest(_f(c.orders_count - c.cancelled_count - c.returned_count), 0.0)
    frequency = kept / (kept + h_f)
    half = _by_currency(
        {k: float(v) for k, v in config.monetary_half.items()},
        float(config.half_spend(config.fallback_currency)),
    )
    spent = greatest(_f(c.total_spent), 0.0)
    monetary = spent / (spent + half)
    raw = 100.0 * (
        config.weight_recency * recency
        + config.weight_frequency * frequency
        + config.weight_monetary * monetary
    )
    return cast(raw, Float)


class floor_nonnegative(FunctionElement[int]):
    """``floor(x)`` of a value known to be >= 0 (SQLite has no floor() in every build; casting to
    INTEGER truncates, which is the floor for non-negative values)."""

    type = Integer()
    inherit_cache = True


@compiles(floor_nonnegative, "postgresql")
def _floor_pg(element: floor_nonnegative, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(floor({compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(floor_nonnegative, "sqlite")
def _floor_sqlite(element: floor_nonnegative, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


def loyalty_score_sql(
    now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG
) -> ColumnElement[int]:
    """The rounded loyalty score 0-100, as :func:`loyalty_score` (half up)."""
    return floor_nonnegative(loyalty_sql(now, config) + 0.5)


def loyalty_at_least(
    score: int, now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG
) -> ColumnElement[bool]:
    """Rounded loyalty score >= ``score`` (see :func:`round_score`)."""
    return loyalty_sql(now, config) >= score - 0.5


def loyalty_band_of(raw: ColumnElement[float]) -> ColumnElement[str]:
    """The band of an (unrounded) loyalty score, e.g. a column holding ``loyalty_sql``."""
    return case(
        *[(raw >= lower - 0.5, name) for lower, name in LOYALTY_BANDS[:-1]],
        else_=LOYALTY_BANDS[-1][1],
    )


def loyalty_band_sql(now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG) -> ColumnElement[str]:
    return loyalty_band_of(loyalty_sql(now, config))


def risk_sql(config: AnalyticsConfig = DEFAULT_CONFIG) -> ColumnElement[float]:
    """The risk score, as :func:`risk_score`."""
    c = EmagCustomer
    n = _f(c.orders_count)
    base = (
        config.risk_weight_cancelled * _f(c.cancelled_count)
        + config.risk_weight_returned * _f(c.returned_count)
    ) / n
    score = base * (1.0 + config.risk_cod_amplifier * _f(c.cod_count) / n)
    return case((c.orders_count <= 0, 0.0), else_=score)


def risk_level_of(
    score: ColumnElement[float], config: AnalyticsConfig = DEFAULT_CONFIG
) -> ColumnElement[str]:
    """The level of a risk score, e.g. a column holding ``risk_sql``."""
    return case(
        (score >= config.risk_high, "high"), (score >= config.risk_medium, "medium"), else_="low"
    )


def risk_level_sql(config: AnalyticsConfig = DEFAULT_CONFIG) -> ColumnElement[str]:
    return risk_level_of(risk_sql(config), config)


def risk_condition(level: str, config: AnalyticsConfig = DEFAULT_CONFIG) -> ColumnElement[bool]:
    """Customers of risk ``level``, as a range of the risk score."""
    score = risk_sql(config)
    if level == "high":
        return score >= config.risk_high
    if level == "medium":
        return and_(score >= config.risk_medium, score < config.risk_high)
    if level == "low":
        return score < config.risk_medium
    raise ValueError(f"unknown risk level {level!r}")


def channel_sql(config: AnalyticsConfig = DEFAULT_CONFIG) -> ColumnElement[str]:
    """The preferred channel, as :func:`preferred_channel` (integer arithmetic, exact)."""
    c = EmagCustomer
    num, den = config.channel_dominance.numerator, config.channel_dominance.denominator
    total = c.main_orders + c.fbe_orders
    return case(
        (total <= 0, "none"),
        (c.main_orders * den >= total * num, "main"),
        (c.fbe_orders * den >= total * num, "fbe"),
        else_="mixed",
    )


def average_order_value_sql() -> ColumnElement[float]:
    """``analytics.average_order_value`` over ``analytics.spent_orders``."""
    c = EmagCustomer
    kept = func.coalesce(c.spent_orders, c.orders_count - c.cancelled_count - c.returned_count)
    return case((kept <= 0, None), else_=_f(c.total_spent) / _f(kept))


def repeat_sql(config: AnalyticsConfig = DEFAULT_CONFIG) -> ColumnElement[bool]:
    c = EmagCustomer
    return c.orders_count - c.cancelled_count >= config.repeat_min_orders
