"""Customer analytics that the mutation runs found unasserted (issue 19): through the API, and
the formulas and their configuration on hand-built numbers (no database)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest

from magflow.context import AppContext
from magflow.customers import analytics
from magflow.customers.models import EmagCustomer
from tests.customers.test_analytics_db import customer_row, insert_customers
from tests.factories import make_user
from tests.support.auth import auth_headers

PATH = "/api/v1/admin/emag-customers"


@pytest.fixture
async def client(ctx: AppContext, api: str) -> AsyncIterator[httpx.AsyncClient]:
    user = await make_user(ctx)
    async with httpx.AsyncClient(base_url=api) as http:
        http.headers.update(await auth_headers(http, user.email))
        yield http


async def listing(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(PATH, params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_rates_are_each_counted_from_their_own_orders(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    """10 orders: 2 cancelled, 3 returned, 4 paid cash on delivery."""
    [customer_id] = await insert_customers(
        ctx, [customer_row(orders_count=10, cancelled_count=2, returned_count=3, cod_count=4)]
    )
    [row] = await listing(client)
    assert row["id"] == customer_id
    assert row["cancellation_rate"] == 0.2
    assert row["return_rate"] == 0.3
    assert row["cod_share"] == 0.4
    detail = await client.get(f"{PATH}/{customer_id}")
    assert detail.status_code == 200, detail.text
    customer = detail.json()["customer"]
    assert (customer["cancellation_rate"], customer["return_rate"], customer["cod_share"]) == (
        0.2,
        0.3,
        0.4,
    )


async def test_each_risk_filter_holds_only_its_own_level(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    rows = [
        customer_row(orders_count=10),  # risk 0: low
        customer_row(orders_count=10, returned_count=3),  # 0.12: medium
        customer_row(orders_count=10, cancelled_count=4, cod_count=10),  # 0.36: high
        customer_row(orders_count=10, cancelled_count=5),  # exactly 0.30: high
        customer_row(orders_count=4, returned_count=1),  # exactly 0.10: medium
    ]
    low, medium, high, high_edge, medium_edge = await insert_customers(ctx, rows)
    levels = {row["id"]: row["risk_level"] for row in await listing(client)}
    assert levels == {
        low: "low",
        medium: "medium",
        high: "high",
        high_edge: "high",
        medium_edge: "medium",
    }
    for level in ("low", "medium", "high"):
        expected = {i for i, found in levels.items() if found == level}
        assert {row["id"] for row in await listing(client, risk=level)} == expected, level
    both = {row["id"] for row in await listing(client, risk=["medium", "high"])}
    assert both == {medium, high, high_edge, medium_edge}


def spend_for_fraction(kept: int, want_up: bool) -> Decimal:
    """A spend at which a customer with ``kept`` orders and no last order date has a loyalty
    score whose fraction rounds up (``want_up``) or down."""
    for cents in range(1000, 10_000_000, 7919):
        spent = Decimal(cents) / 100
        raw = analytics.loyalty_raw(
            orders=kept,
            cancelled=0,
            returned=0,
            total_spent=spent,
            currency="RON",
            last_order_at=None,
            now=datetime.now(UTC),
        )
        fraction = raw - int(raw)
        if (0.6 < fraction < 0.9) if want_up else (0.1 < fraction < 0.4):
            return spent
    raise AssertionError("no such spend")


async def test_loyalty_filters_use_the_score_as_shown(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    """``loyalty_min``/``loyalty_max`` compare with the rounded score the listing shows:
    a customer shown with score s is in loyalty_min=s and loyalty_max=s, and in neither
    loyalty_min=s+1 nor loyalty_max=s-1, whichever way its raw score was rounded. (Without a
    last order date the score does not move with the clock.)"""
    rows = [
        customer_row(
            orders_count=kept,
            total_spent=spend_for_fraction(kept, up),
            first_order_at=None,
            last_order_at=None,
        )
        for kept in (1, 2, 5)
        for up in (True, False)
    ]
    await insert_customers(ctx, rows)
    shown = {row["id"]: row["loyalty_score"] for row in await listing(client)}
    assert len(shown) == 6
    for customer_id, score in shown.items():
        assert customer_id in {r["id"] for r in await listing(client, loyalty_min=score)}
        assert customer_id in {r["id"] for r in await listing(client, loyalty_max=score)}
        both = await listing(client, loyalty_min=score, loyalty_max=score)
        assert {r["id"] for r in both} == {i for i, s in shown.items() if s == score}
        if score < 100:
            above = await listing(client, loyalty_min=score + 1)
            assert customer_id not in {r["id"] for r in above}
        if score > 0:
            below = await listing(client, loyalty_max=score - 1)
            assert customer_id not in {r["id"] for r in below}


# -- the formulas and their configuration (no database) -----------------------------------------

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def test_config_accepts_its_boundary_values_and_names_what_it_refuses() -> None:
    """The documented bounds are inclusive where they say so, and each refusal says which rule."""
    zero = analytics.TierThresholds(Decimal(0), Decimal(0), Decimal(0))
    assert analytics.tier_for(Decimal(0), "RON", analytics.AnalyticsConfig({"RON": zero})) == (
        "platinum"
    )
    analytics.AnalyticsConfig(weight_recency=0.0, weight_frequency=0.5, weight_monetary=0.5)
    analytics.AnalyticsConfig(recency_half_days=0.5, frequency_half_orders=0.5)
    analytics.AnalyticsConfig(monetary_half={"RON": Decimal("0.5")})
    analytics.AnalyticsConfig(risk_medium=0.0, risk_high=0.0)
    analytics.AnalyticsConfig(risk_medium=0.2, risk_high=0.2)
    refused = [
        (
            lambda: analytics.TierThresholds(Decimal(1), Decimal(2), Decimal(1)),
            "tier thresholds must satisfy 0 <= silver <= gold <= platinum",
        ),
        (
            lambda: analytics.AnalyticsConfig(weight_recency=0.6),
            "loyalty weights must be non-negative and sum to 1",
        ),
        (lambda: analytics.AnalyticsConfig(recency_half_days=0), "half-values must be positive"),
        (
            lambda: analytics.AnalyticsConfig(frequency_half_orders=0),
            "half-values must be positive",
        ),
        (
            lambda: analytics.AnalyticsConfig(monetary_half={"RON": Decimal(0)}),
            "monetary half-values must be positive",
        ),
        (
            lambda: analytics.AnalyticsConfig(risk_medium=0.4, risk_high=0.3),
            "risk thresholds must satisfy 0 <= medium <= high",
        ),
    ]
    for dominance in (Fraction(2, 5), Fraction(1, 2), Fraction(3, 2)):
        refused.append(
            (
                lambda d=dominance: analytics.AnalyticsConfig(channel_dominance=d),  # type: ignore[misc]
                "channel dominance must be in (1/2, 1]",
            )
        )
    for make, message in refused:
        with pytest.raises(ValueError) as raised:
            make()
        assert str(raised.value) == message


def test_fingerprint_follows_the_parameters_not_their_container() -> None:
    """The fingerprint keys the summary cache: equal parameters share it (whether the tables are
    plain dicts or the module's read-only mappings), any changed parameter gets another."""
    default = analytics.DEFAULT_CONFIG.fingerprint()
    same = analytics.AnalyticsConfig(
        tier_thresholds=dict(analytics.TIER_THRESHOLDS),
        monetary_half=dict(analytics.MONETARY_HALF),
    )
    assert same.fingerprint() == default
    assert analytics.AnalyticsConfig(risk_high=0.5).fingerprint() != default
    assert analytics.AnalyticsConfig(monetary_half={"RON": Decimal(1)}).fingerprint() != default


def test_one_unit_of_spend_already_counts() -> None:
    assert analytics.monetary_score(Decimal(1), "RON") == pytest.approx(1 / 1001)
    assert analytics.monetary_score(Decimal(0), "RON") == 0.0


def test_every_term_of_the_loyalty_score_uses_the_given_config() -> None:
    """With every half-value met (1 kept order, 100 spent, 30 days ago), each term is worth half:
    a term computed with the default config instead would move the score off 50."""
    config = analytics.AnalyticsConfig(
        recency_half_days=30, frequency_half_orders=1, monetary_half={"RON": Decimal(100)}
    )
    score = analytics.loyalty_score(
        orders=1,
        cancelled=0,
        returned=0,
        total_spent=Decimal(100),
        currency="RON",
        last_order_at=NOW - timedelta(days=30),
        now=NOW,
        config=config,
    )
    assert score == 50


def customer(**counts: Any) -> EmagCustomer:
    values: dict[str, Any] = {
        "orders_count": 0,
        "cancelled_count": 0,
        "returned_count": 0,
        "cod_count": 0,
        "main_orders": 0,
        "fbe_orders": 0,
        "total_spent": Decimal(0),
        "currency": "RON",
        "last_order_at": None,
    }
    values.update(counts)
    return EmagCustomer(customer_key="k", platform="ro", **values)


def test_insight_uses_the_given_config_throughout() -> None:
    """A customer's facts follow the config passed in, in every field (the detail page and the
    list compute them with the deployment's config, not the defaults)."""
    config = analytics.AnalyticsConfig(
        tier_thresholds={"RON": analytics.TierThresholds(Decimal(1), Decimal(2), Decimal(3))},
        recency_half_days=30,
        frequency_half_orders=1,
        monetary_half={"RON": Decimal(100)},
        risk_weight_cancelled=1.0,
        risk_weight_returned=0.0,
        risk_cod_amplifier=0.0,
        risk_high=0.9,
        risk_medium=0.5,
        channel_dominance=Fraction(1, 1),
        repeat_min_orders=5,
    )
    one = customer(
        orders_count=2,
        cancelled_count=1,
        cod_count=2,
        main_orders=4,
        fbe_orders=1,
        total_spent=Decimal(100),
        last_order_at=NOW - timedelta(days=30),
    )
    facts = analytics.insight(one, NOW, config)
    default = analytics.insight(one, NOW)
    assert facts.tier == "platinum" and default.tier == "bronze"
    assert facts.loyalty_score == 50 != default.loyalty_score
    assert facts.risk_score == 0.5 and facts.risk_level == "medium"
    assert default.risk_score == 0.45 and default.risk_level == "high"
    assert facts.preferred_channel == "mixed" and default.preferred_channel == "main"
    assert not analytics.insight(customer(orders_count=4), NOW, config).is_repeat
    assert analytics.insight(customer(orders_count=4), NOW).is_repeat


def test_rates_are_shown_to_four_decimals_and_zero_without_orders() -> None:
    one_in_seven = analytics.insight(
        customer(orders_count=7, cancelled_count=1, returned_count=1, cod_count=1), NOW
    )
    assert (one_in_seven.cancellation_rate, one_in_seven.return_rate) == (0.1429, 0.1429)
    assert one_in_seven.cod_share == 0.1429
    assert one_in_seven.risk_score == 0.1531  # (0.6 + 0.4) / 7 * (1 + 0.5 / 7)
    single = analytics.insight(customer(orders_count=1, cancelled_count=1, cod_count=1), NOW)
    assert (single.cancellation_rate, single.cod_share) == (1.0, 1.0)
    returned = analytics.insight(customer(orders_count=1, returned_count=1), NOW)
    assert returned.return_rate == 1.0
    none = analytics.insight(customer(), NOW)
    assert (none.cancellation_rate, none.return_rate, none.cod_share) == (0.0, 0.0, 0.0)


def test_month_starts_at_midnight_utc_whatever_the_server_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``new_this_month`` counts from the first instant of the month in UTC, even for a server
    whose local zone is far from UTC and a ``now`` given in another zone."""
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    try:
        late = datetime(2026, 11, 30, 23, 34, 56, 789, tzinfo=UTC)
        assert analytics.month_start(late) == datetime(2026, 11, 1, tzinfo=UTC)
        bucharest = late.astimezone(timezone(timedelta(hours=2)))  # already December there
        assert analytics.month_start(bucharest) == datetime(2026, 11, 1, tzinfo=UTC)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_summary_keeps_spend_without_a_currency_apart_and_adds_up_each_currency() -> None:
    def row(currency: str | None, spent: str) -> dict[str, Any]:
        values: dict[str, Any] = dict.fromkeys(
            ("customers", "orders", "cancelled", "returned", "active", "new", "repeat"), 0
        )
        for prefix, names in (
            ("tier", analytics.TIERS),
            ("channel", analytics.CHANNELS),
            ("risk", analytics.RISK_LEVELS),
            ("band", [name for _, name in analytics.LOYALTY_BANDS]),
        ):
            values.update({f"{prefix}:{name}": 0 for name in names})
        return {**values, "currency": currency, "spent": Decimal(spent)}

    summary = analytics.summarize(
        [row("RON", "10.50"), row(None, "3"), row("RON", "1.25"), row(None, "1")], NOW
    )
    assert summary["spend_by_currency"] == {"?": Decimal("4.00"), "RON": Decimal("11.75")}
