"""A listing's page is written as pydantic writes the whole page, with each unchanged row
validated once per process (``common.schemas.page_of``, ``RowsJson``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from magflow.common import schemas
from magflow.common.schemas import Money, Page, PageJson, RowsJson, UtcDateTime, page_of

BUCHAREST = timezone(timedelta(hours=2))


class Item(BaseModel):
    id: int
    name: str | None
    price: Money | None
    at: UtcDateTime | None
    share: float
    stock: list[dict[str, Any]] | None


class ItemsWithSummary(Page[Item]):
    summary: dict[str, int] | None = Field(description="after the items")


def row(item_id: int = 1, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": item_id,
        "name": f"item {item_id}",
        "price": Decimal("12.3400"),
        "at": datetime(2026, 3, 1, 12, 30, 0, 7, tzinfo=UTC),
        "share": 0.25,
        "stock": [{"warehouse_id": 1, "value": 3}],
    }
    return fields | changes


def expected(
    rows: list[dict[str, Any]], page: type[BaseModel] = Page[Item], **fields: Any
) -> bytes:
    """What pydantic writes for the whole page, validated in one piece (the path before)."""
    model = page.model_validate({"total": 7, "skip": 0, "limit": 50, "items": rows, **fields})
    return TypeAdapter(page).dump_json(model, by_alias=True)


def written(rows: list[dict[str, Any]], **fields: Any) -> bytes:
    answer = page_of(Item, [dict(r) for r in rows], total=7, skip=0, limit=50, **fields)
    assert isinstance(answer, PageJson)
    assert answer.media_type == "application/json"
    return bytes(answer.body)


class Counting:
    """``RowsJson``'s validator, counting the rows it validates."""

    def __init__(self, validator: Any) -> None:
        self.validator, self.validated = validator, 0

    def validate_python(self, value: Any, **kwargs: Any) -> Any:
        self.validated += 1
        return self.validator.validate_python(value, **kwargs)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Counting:
    """A fresh ``RowsJson`` for ``Item`` (nothing kept from another test) that counts."""
    rows_json = RowsJson(Item)
    counter = Counting(rows_json.adapter.validator)
    monkeypatch.setattr(rows_json.adapter, "validator", counter)
    monkeypatch.setattr(schemas, "rows_json", lambda item: rows_json)
    return counter


def test_the_page_is_what_pydantic_writes_for_it(counting: Counting) -> None:
    rows = [
        row(1),
        row(2, price=Decimal("1E+3"), at=datetime(2026, 3, 1, 14, 30, tzinfo=BUCHAREST)),
        row(3, name=None, price=None, at=None, stock=None, share=0),
    ]
    assert written(rows) == expected(rows)
    assert written([]) == expected([]) == b'{"total":7,"skip":0,"limit":50,"items":[]}'
    # A page model with fields after the items: the rows take the place of its empty items.
    summary = {"items": 2}
    answer = page_of(Item, rows, total=7, skip=0, limit=50, page=ItemsWithSummary, summary=summary)
    assert bytes(answer.body) == expected(rows, ItemsWithSummary, summary=summary)


def test_an_unchanged_row_is_validated_once(counting: Counting) -> None:
    rows = [row(1), row(2)]
    first = written(rows)
    assert counting.validated == 2
    assert written(rows) == first == expected(rows)
    assert counting.validated == 2  # kept: nothing validated again
    # Equal values of another scale or zone are written the same: kept.
    same = [row(1, price=Decimal("12.34")), row(2, at=row()["at"].astimezone(BUCHAREST))]
    assert written(same) == first
    assert counting.validated == 2


@pytest.mark.parametrize(
    "change",
    [
        {"name": "renamed"},
        {"price": Decimal("12.3401")},
        {"at": datetime(2026, 3, 1, 12, 30, 0, 8, tzinfo=UTC)},
        {"share": 0.5},
        {"stock": [{"warehouse_id": 1, "value": 4}]},
        # Equal in Python, not in JSON: a JSON column is compared by its text.
        {"stock": [{"warehouse_id": 1, "value": 3.0}]},
        {"stock": [{"warehouse_id": True, "value": 3}]},
        {"extra": 1},  # another column: validated again (pydantic ignores it)
    ],
)
def test_a_changed_row_is_validated_again(counting: Counting, change: dict[str, Any]) -> None:
    assert written([row(1)]) == expected([row(1)])
    changed = [row(1, **change)]
    assert written(changed) == expected(changed)
    assert counting.validated == 2
    # Both versions are kept (an admin's and a viewer's masked rows, say).
    assert written([row(1)]) == expected([row(1)])
    assert written(changed) == expected(changed)
    assert counting.validated == 2


def test_a_row_that_fails_validation_raises_and_is_not_kept(counting: Counting) -> None:
    bad = row(1, share="not a number")
    with pytest.raises(ValidationError):
        written([bad])
    with pytest.raises(ValidationError):
        written([bad])
    assert counting.validated == 2
    assert written([row(1)]) == expected([row(1)])


def test_a_row_is_kept_as_it_was_written(counting: Counting) -> None:
    rows = [row(1)]
    page_of(Item, rows, total=7, skip=0, limit=50)
    rows[0]["name"] = "changed after"
    rows[0]["stock"].append({"warehouse_id": 2, "value": 1})  # the caller's own list
    assert written([row(1)]) == expected([row(1)])
    assert written(rows) == expected(rows)


def test_what_is_kept_is_bounded(counting: Counting, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schemas, "ROWS_KEPT", 3)
    monkeypatch.setattr(schemas, "VERSIONS_KEPT", 2)
    versions = [row(1, share=share) for share in (0.1, 0.2, 0.3)]
    for version in versions:
        written([version])
    assert counting.validated == 3
    written([versions[2]])  # kept
    written([versions[0]])  # dropped: only the last two versions of a row are kept
    assert counting.validated == 4
    # Three rows kept (1's two versions and 2): the fourth empties the cache.
    written([row(2)])
    written([row(3)])
    written([versions[2], row(2), row(3)])
    assert counting.validated == 8
