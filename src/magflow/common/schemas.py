from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, Field

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


class Page(BaseModel, Generic[T]):
    """One page of a listing: ``total`` matching rows, ``items`` from ``skip``."""

    total: int
    skip: int
    limit: int
    items: list[T]
