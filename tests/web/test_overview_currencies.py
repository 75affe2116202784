"""The overview never adds amounts in different currencies (issue 13, point 7): the revenue
figures are per currency and the chart draws one currency and names the ones it leaves out."""

from __future__ import annotations

from decimal import Decimal

from magflow.web.overview import chart, window

DAILY = {
    "currencies": ["RON", "EUR"],
    "items": [
        {
            "day": "2026-11-01",
            "orders": 3,
            "currencies": [
                {"currency": "RON", "revenue": "100.50"},
                {"currency": "EUR", "revenue": "20.00"},
            ],
        },
        {"day": "2026-11-02", "orders": 1, "currencies": [{"currency": "EUR", "revenue": "7.25"}]},
    ],
}


def test_revenue_is_per_currency_and_the_chart_names_what_it_leaves_out() -> None:
    assert window(DAILY, 2) == {
        "orders": 4,
        "revenue": {"RON": Decimal("100.50"), "EUR": Decimal("27.25")},
    }
    drawn = chart(DAILY)
    assert (drawn["currency"], drawn["others"]) == ("RON", ["EUR"])
    assert drawn["revenue"] == [100.5, 0.0]  # the EUR amounts are not added to the RON series
