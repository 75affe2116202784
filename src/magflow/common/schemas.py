"""Types and models every domain's schemas share: bounded ids, storable text, pages, and the
one way an API answer writes a time (UTC, ``Z``) and an amount of money (4 decimals)."""

from __future__ import annotations

import functools
import typing
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    TypeAdapter,
)
from pydantic_core import core_schema
from starlette.responses import Response

from magflow.common.security import text_problem

T = TypeVar("T")

# Integers that reach the database must fit its columns: row ids are INTEGER (32-bit) on
# PostgreSQL, and SQLite raises OverflowError beyond 64 bits. Ids and offsets in paths, queries
# and bodies are bounded to 32 bits, so an out-of-range value is a 422 like any other bad input.
DB_INT_MIN = -(2**31)
DB_INT_MAX = 2**31 - 1
DbId = Annotated[int, Field(ge=DB_INT_MIN, le=DB_INT_MAX)]
IdPath = Annotated[int, Path(ge=DB_INT_MIN, le=DB_INT_MAX)]
IdQuery = Annotated[int | None, Query(ge=DB_INT_MIN, le=DB_INT_MAX)]
Skip = Annotated[int, Query(ge=0, le=DB_INT_MAX)]


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# Text without NUL or unpaired surrogates, for the inputs the request guard does not read
# (multipart forms): see magflow.common.security.
StorableText = Annotated[str, AfterValidator(_storable)]

# eMAG's own ids are stored as BIGINT (64-bit): filters on them are bounded the same way.
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1


def _as_utc(value: datetime) -> datetime:
    """``value`` in UTC. A naive value is taken as UTC (every stored time is UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class _InUtc:
    """How :data:`UtcDateTime` validates: a time already at UTC offset 0 (every time read from
    the database, ``db.base.UTCDateTime``) passes in pydantic's own code; any other (eMAG's
    Bucharest time, a naive value) is converted by :func:`_as_utc`. The answer is then written
    by pydantic's own ISO 8601 writer, which writes offset 0 as ``Z``: no Python call per time
    on the way in or out for the common case (issue 18: a listing has two or three times per
    row, and a Python serializer per time cost as much as the rest of the row)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.union_schema(
            [
                core_schema.datetime_schema(tz_constraint=0),
                core_schema.no_info_after_validator_function(
                    _as_utc, core_schema.datetime_schema()
                ),
            ],
            mode="left_to_right",
        )


#: Money's stored scale: ``Numeric(16, 4)`` columns (magflow.catalog.models.Money).
MONEY_DECIMALS = 4
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_DECIMALS)


def _money_text(value: Decimal) -> str:
    """Always 4 decimals, never an exponent: what a read from the database shows
    (``"0.0000"``), also for amounts that come straight from eMAG (``"0.00"``) or a computation.

    ``str`` of a value quantized to 4 decimals is its ``"f"`` format (a Decimal is written with
    an exponent only when its own exponent is positive or its adjusted exponent below -6), at
    two thirds of the cost: this runs for every amount of every listing row."""
    if value.__class__ is not Decimal:
        value = Decimal(value)
    return str(value.quantize(_MONEY_QUANTUM))


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time needs a timezone, e.g. 2026-01-31T00:00:00Z")
    return value


# In answers: every time in UTC with ``Z`` and every amount with 4 decimals, whichever path built
# the answer (a read from the database, or a write-back that holds what eMAG sent, in Bucharest
# time and with 2 decimals). A time is held in UTC once validated; an amount keeps its value and
# only its JSON text is normalised.
UtcDateTime = Annotated[datetime, _InUtc]
Money = Annotated[Decimal, PlainSerializer(_money_text, return_type=str, when_used="json")]
#: An input time that must say its timezone (a naive one would be read in an unknown zone).
AwareDateTime = Annotated[datetime, AfterValidator(_aware)]


def codes_help(codes: type[IntEnum]) -> str:
    """``"0 inactive, 1 active, 2 end of life"``: an eMAG code enum for an API description."""
    return ", ".join(f"{int(c)} {getattr(c, 'label', c.name)}" for c in codes)


class Page(BaseModel, Generic[T]):
    """One page of a listing: ``total`` matching rows, ``items`` from ``skip``."""

    total: int
    skip: int
    limit: int
    items: list[T]


Item = TypeVar("Item", bound=BaseModel)


@functools.cache
def page_model(item: type[Item]) -> type[Page[Item]]:
    """``Page[item]`` (pydantic's parametrization, looked up once per item model)."""
    return Page[item]  # type: ignore[valid-type]


#: Rows kept written per item model (:class:`RowsJson`): a few screens' pages at 50 to 500 rows,
#: each about 2 KB with the copy of its columns it is compared with.
ROWS_KEPT = 1024
#: Versions kept per row id: an admin and a viewer (masked names) polling the same page.
VERSIONS_KEPT = 4


class RowsJson:
    """Listing rows validated by an item model and written as JSON, each kept by its content.

    Validating a page's rows and writing them is most of a listing's CPU in the API (issue 18,
    BENCHMARKS.md "load"), and a screen polls the same pages: a row that comes back unchanged
    is validated once per process, not once per request.

    Kept by the row's ``id`` with a copy of its columns, and written as kept only when every
    column is equal to the copy's: the same names, equal values, and a JSON column (a list or
    a dict) with the same JSON text (in JSON, ``1``, ``1.0`` and ``true`` differ, though Python
    finds them equal). Equal values validate and write the same way with the field types of the
    listings' models: ints, text, floats, booleans, ``Money`` (written with 4 decimals whatever
    the value's scale) and ``UtcDateTime`` (written in UTC whatever the zone); the one
    difference equality hides from them is a zero's sign (``-0.0 == 0.0``), so a row whose only
    change is that is written as kept. Compared, not hashed: a fresh ``Decimal`` or aware
    ``datetime`` costs more to hash than to compare.

    A row that changed in any column is validated again; a row that fails validation raises,
    as it did, and is not kept. At most :data:`ROWS_KEPT` rows (all forgotten when full) and
    :data:`VERSIONS_KEPT` versions of a row (the oldest dropped)."""

    def __init__(self, item: type[BaseModel]) -> None:
        self.adapter: TypeAdapter[Any] = TypeAdapter(item)
        self._kept: dict[Any, list[_KeptRow]] = {}
        self._rows = 0
        #: The fields that may hold a list or a dict (by the name a row gives them).
        self._json_fields = tuple(
            field.alias or name
            for name, field in item.model_fields.items()
            if _holds_containers(field.annotation)
        )

    def array(self, rows: list[dict[str, Any]]) -> bytes:
        """``rows`` validated and written as a JSON array (what pydantic writes for them)."""
        # pydantic-core's own calls: TypeAdapter's wrappers cost as much again per row.
        validate, to_json = self.adapter.validator.validate_python, self.adapter.serializer.to_json
        kept = self._kept
        parts = []
        for row in rows:
            written = None
            for columns, json_texts, kept_written in kept.get(row.get("id"), ()):
                if columns == row and (
                    not json_texts
                    or all(_json_text(row[name]) == text for name, text in json_texts)
                ):
                    written = kept_written
                    break
            if written is None:
                written = to_json(validate(row), by_alias=True)
                self._keep(row, written)
            parts.append(written)
        return b"[" + b",".join(parts) + b"]"

    def _keep(self, row: dict[str, Any], written: bytes) -> None:
        row_id = row.get("id")
        if row_id is None:
            return
        json_texts = []
        for name in self._json_fields:
            value = row.get(name)
            if value.__class__ in (list, dict):
                text = _json_text(value)
                if text is None:
                    return
                json_texts.append((name, text))
        if self._rows >= ROWS_KEPT:
            self._kept.clear()
            self._rows = 0
        versions = self._kept.setdefault(row_id, [])
        if len(versions) >= VERSIONS_KEPT:
            del versions[0]
            self._rows -= 1
        versions.append((dict(row), tuple(json_texts), written))
        self._rows += 1


#: A kept row: a copy of its columns, the JSON text of each of its lists and dicts, its JSON.
_KeptRow = tuple[dict[str, Any], tuple[tuple[str, bytes], ...], bytes]


def _holds_containers(annotation: Any) -> bool:
    """Whether a field of this type may hold a list or a dict (``list[str] | None``: yes)."""
    if typing.get_origin(annotation) in (list, dict) or annotation in (list, dict, Any):
        return True
    return any(_holds_containers(argument) for argument in typing.get_args(annotation))


def _json_text(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value)
    except TypeError:
        return None


class PageJson(Response):
    """A listing page already validated and written (:func:`page_of`): FastAPI sends a returned
    response as it is, and so does the fast lane (``common/fastlane.py``)."""

    media_type = "application/json"


@functools.cache
def rows_json(item: type[Item]) -> RowsJson:
    """The :class:`RowsJson` of ``item`` (one per item model and process)."""
    return RowsJson(item)


def page_of(
    item: type[Item],
    rows: list[dict[str, Any]],
    *,
    total: int,
    skip: int,
    limit: int,
    page: type[BaseModel] | None = None,
    **fields: Any,
) -> PageJson:
    """A listing's page, validated once and written once: ``Page[item]`` (or ``page``, a
    subclass with more ``fields``) over ``rows``, which are plain dicts
    (:func:`magflow.db.query.fetch_rows`; the cheapest input to validate: an ORM object or a row
    mapping is read attribute by attribute).

    The rows go through :func:`rows_json` (each row validated once per process while it does
    not change); the rest of the page is validated and written by the page model with no items,
    and the rows' JSON array takes the place of its empty ``items``: the same text as the page
    model writes for the whole page (``total``, ``skip`` and ``limit``, integers, come first;
    ``tests/common/test_schemas.py`` compares the two)."""
    model = page or page_model(item)
    outer = model.model_validate(
        {"total": total, "skip": skip, "limit": limit, "items": (), **fields}
    ).model_dump_json(by_alias=True)
    items = rows_json(item).array(rows)
    body = outer.encode().replace(b'"items":[]', b'"items":' + items, 1)
    return PageJson(body)
