from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing: ``total`` matching rows, ``items`` from ``skip``."""

    total: int
    skip: int
    limit: int
    items: list[T]
