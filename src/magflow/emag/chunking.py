"""Splitting save payloads under eMAG's size limits (docs/emag-protocol.md, "Rate and size limits").

A save carries at most 50 entities and at most 4000 "input vars". eMAG's limit is PHP's
``max_input_vars``, which counts one variable per leaf of the form-encoded body
(``data[0][stock][0][value]=5``); we count the same way on the JSON payload: every scalar leaf is
one var, and an empty list/object counts as one too (conservative: PHP drops them, so we may
split a little earlier than needed but never later).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

MAX_ENTITIES = 50
MAX_INPUT_VARS = 4000

E = TypeVar("E")


def count_input_vars(value: Any) -> int:
    """Number of PHP input vars ``value`` becomes when flattened (leaves; empty containers = 1)."""
    if isinstance(value, Mapping):
        return sum(count_input_vars(v) for v in value.values()) or 1
    if isinstance(value, list | tuple):
        return sum(count_input_vars(v) for v in value) or 1
    return 1


def chunk_entities(
    entities: Iterable[E], max_items: int = MAX_ENTITIES, max_vars: int = MAX_INPUT_VARS
) -> list[list[E]]:
    """Split ``entities`` into consecutive chunks of at most ``max_items`` entities and at most
    ``max_vars`` input vars each, keeping order. Raises ValueError if one entity alone exceeds
    ``max_vars`` (eMAG would refuse it with "Maximum input vars of 4000 exceeded")."""
    if max_items < 1 or max_vars < 1:
        raise ValueError("max_items and max_vars must be positive")
    chunks: list[list[E]] = []
    current: list[E] = []
    current_vars = 0
    for index, entity in enumerate(entities):
        size = count_input_vars(entity)
        if size > max_vars:
            raise ValueError(
                f"entity #{index} has {size} input vars, more than the {max_vars} allowed"
            )
        if current and (len(current) >= max_items or current_vars + size > max_vars):
            chunks.append(current)
            current, current_vars = [], 0
        current.append(entity)
        current_vars += size
    if current:
        chunks.append(current)
    return chunks
