"""``stock_total`` of an offer row: per-warehouse ``stock[]`` when a read carries it,
``general_stock`` otherwise (docs/emag-protocol.md, "Offers")."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from magflow.catalog.mapping import offer_row

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def row(raw: dict[str, Any]) -> dict[str, Any]:
    return offer_row(
        {"id": 5, **raw},
        account_id=1,
        run_id=1,
        now=NOW,
        currency="RON",
        vat_rates={1: Decimal("0.21")},
    )


def test_the_per_warehouse_list_wins_when_present() -> None:
    mapped = row(
        {
            "general_stock": 99,
            "stock": [{"warehouse_id": 1, "value": "3"}, {"warehouse_id": 2, "value": 4}],
        }
    )
    assert mapped["stock_total"] == 7
    assert mapped["stock"] == [{"warehouse_id": 1, "value": 3}, {"warehouse_id": 2, "value": 4}]
    assert mapped["general_stock"] == 99


@pytest.mark.parametrize("stock", [None, [], {}], ids=["absent", "empty-list", "php-empty-object"])
def test_general_stock_counts_when_the_list_is_absent_or_empty(stock: Any) -> None:
    raw: dict[str, Any] = {"general_stock": "12", "estimated_stock": 10}
    if stock is not None:
        raw["stock"] = stock
    mapped = row(raw)
    assert mapped["stock_total"] == 12
    assert mapped["stock"] == []
    assert mapped["general_stock"] == 12 and mapped["estimated_stock"] == 10


def test_no_list_and_no_general_stock_is_zero_not_a_crash() -> None:
    mapped = row({"estimated_stock": 4})
    assert mapped["stock_total"] == 0
    assert mapped["general_stock"] is None


def test_a_list_of_zeroes_is_zero_even_with_a_general_stock() -> None:
    mapped = row({"general_stock": 8, "stock": [{"warehouse_id": 1, "value": 0}]})
    assert mapped["stock_total"] == 0
