"""The one set of rules for eMAG values (magflow.emag.coerce): each rule of its docstring."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from magflow.emag import coerce

BUCHAREST = ZoneInfo("Europe/Bucharest")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, 12),
        ("12", 12),
        (" 3 ", 3),
        ("-4", -4),
        ("12.0", 12),
        (12.0, 12),
        (Decimal("7.00"), 7),
        ("12.5", None),  # a fraction is not an int: never truncated
        (12.5, None),
        (True, 1),  # PHP flags typed int
        (False, 0),
        ("", None),
        ("   ", None),
        (None, None),
        ([], None),  # PHP's empty array
        ({}, None),
        ({"value": 1}, None),
        ([1], None),
        ("twelve", None),
        ("1e3", 1000),
        ("NaN", None),
        ("inf", None),
    ],
)
def test_to_int(value: Any, expected: int | None) -> None:
    assert coerce.to_int(value) == expected
    assert coerce.to_int(value) is None or type(coerce.to_int(value)) is int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", Decimal("12.5")),
        (" 3 ", Decimal("3")),
        ("967.6613", Decimal("967.6613")),
        (0.19, Decimal("0.19")),  # by the float's shortest repr, not its binary expansion
        (12, Decimal(12)),
        ("-10.0000", Decimal("-10")),
        (True, None),  # an amount is never a flag
        (False, None),
        ("", None),
        (None, None),
        ([], None),
        ({}, None),
        ({"amount": "1"}, None),
        ("12,5", None),
        ("NaN", None),
        (float("inf"), None),
    ],
)
def test_to_decimal(value: Any, expected: Decimal | None) -> None:
    assert coerce.to_decimal(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("1", True),
        (" 0 ", False),
        ("true", True),
        ("FALSE", False),
        ("yes", True),
        ("no", False),
        (2, None),
        ("maybe", None),
        ("", None),
        (None, None),
        ([], None),
        ({}, None),
    ],
)
def test_to_bool(value: Any, expected: bool | None) -> None:
    assert coerce.to_bool(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ana Pop", "Ana Pop"),
        (" Ana ", " Ana "),  # text is kept as sent
        ("", None),
        ("  ", None),
        (12, "12"),
        (Decimal("12.50"), "12.50"),
        (12.5, "12.5"),
        (True, "1"),
        (False, "0"),
        (None, None),
        ([], None),
        ({}, None),
        ({"name": "x"}, None),
        (["x"], None),
    ],
)
def test_to_str(value: Any, expected: str | None) -> None:
    assert coerce.to_str(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, 2], [1, 2]),
        ([], []),
        ({}, []),
        # a PHP array serialised as an object: its values, in key order
        ({"0": "a", "2": "c", "1": "b"}, ["a", "b", "c"]),
        ({"10": "k", "9": "j"}, ["j", "k"]),
        # a lone object where a list is due: a list of it, never dropped
        ({"id": 1, "name": "x"}, [{"id": 1, "name": "x"}]),
        (None, []),
        ("", []),
        ("text", []),
        (5, []),
        (True, []),
    ],
)
def test_to_list(value: Any, expected: list[Any]) -> None:
    assert coerce.to_list(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"locker_id": "L1"}, {"locker_id": "L1"}),
        ({}, None),
        ([], None),  # PHP's empty object
        (None, None),
        ("", None),
        ([{"a": 1}], None),
        (3, None),
    ],
)
def test_to_dict(value: Any, expected: dict[str, Any] | None) -> None:
    assert coerce.to_dict(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01 10:00:00", datetime(2024, 1, 1, 8, 0, tzinfo=UTC)),
        ("2024-07-01 10:00:00", datetime(2024, 7, 1, 7, 0, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("yesterday", None),
        ("2024-13-45 99:00:00", None),
        (12, None),
        ([], None),
    ],
)
def test_to_datetime(value: Any, expected: datetime | None) -> None:
    assert coerce.to_datetime(value, BUCHAREST) == expected


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([{"id": 1}, {"id": 2}], [{"id": 1}, {"id": 2}]),
        ([], []),
        ({}, []),
        (None, []),
        ("", []),
        # one row sent as an object (a read matching one item): one row
        ({"id": 7, "status": 1}, [{"id": 7, "status": 1}]),
        # a list of rows sent as a PHP array keyed by position
        ({"0": {"id": 1}, "1": {"id": 2}}, [{"id": 1}, {"id": 2}]),
    ],
)
def test_rows(results: Any, expected: list[Any]) -> None:
    assert coerce.rows(results) == expected


@pytest.mark.parametrize("results", [5, "rows", True, 1.5])
def test_rows_refuses_scalars(results: Any) -> None:
    with pytest.raises(ValueError, match="not rows"):
        coerce.rows(results)


@pytest.mark.parametrize(
    ("value", "blank"),
    [(None, True), ("", True), (" ", True), ([], True), ({}, True), (0, False), ("0", False)],
)
def test_is_blank(value: Any, blank: bool) -> None:
    assert coerce.is_blank(value) is blank
