"""Types and models every domain's schemas share: bounded ids, storable text, pages, and the
one way an API answer writes a time (UTC, ``Z``) and an amount of money (4 decimals)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, Field, GetCoreSchemaHandler, PlainSerializer
from pydantic_core import core_schema

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


def page_of(item: type[Item], rows: list[Any], *, total: int, skip: int, limit: int) -> Page[Item]:
    """A listing's page validated once, items and all, in one pass of pydantic's validator.

    ``rows`` are plain dicts (:func:`magflow.db.query.fetch_rows`): the cheapest input to
    validate (an ORM object or a row mapping is read attribute by attribute, key by key). The
    route returns the page as its ``response_model``: FastAPI then only checks that it is an
    instance of it and writes it as JSON, so the page is validated once and serialized once."""
    return page_model(item).model_validate(
        {"total": total, "skip": skip, "limit": limit, "items": rows}
    )
