"""The ``total`` of a paginated listing without a ``COUNT(*)`` on every request.

Counting every matching row is the expensive half of a listing: an unfiltered page of orders is a
few rows read through an index, but its ``COUNT(*)`` visits every order (tens of milliseconds of
PostgreSQL per request at 100,000 orders, more while a sync is writing). :func:`listing_total`
gives the same ``total`` in two cheaper ways:

- **exact, no query**, when the page reaches the end of the matching rows: a page of fewer than
  ``limit`` rows at ``skip`` means ``skip + len(page)`` rows match (an empty first page: 0);
- otherwise **counted and cached** for :data:`COUNT_CACHE_TTL_SECONDS` in the app's cache, one
  entry per listing and filter (shared by every API process with Redis), never less than
  ``skip + len(page)`` for a non-empty page. Sync and bulk runs clear the cache when they end
  and the write-back routes call :func:`invalidate_totals`, so a cached total lags only while a
  sync is writing, by at most the TTL (and each API process keeps a total it read for up to a
  second more: ``Cache.near``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from magflow.cache import Cache

#: How long a counted total is served from the cache.
COUNT_CACHE_TTL_SECONDS = 5.0
#: Cache keys of the totals start with this (see :func:`invalidate_totals`).
TOTALS_PREFIX = "listing-total:"


def filter_key(filters: Any) -> str:
    """A short stable key for a filter dataclass (the same filters give the same key).

    Remembered per process by the filters' ``repr`` (equal for equal filters: their fields are
    numbers, text, enums, dates and lists of those): a listing polled with the same filters
    does not encode and hash them again on every request."""
    return _filter_key(repr(filters), filters)


_filter_keys: dict[str, str] = {}
_FILTER_KEYS_KEPT = 1024


def _filter_key(text: str, filters: Any) -> str:
    key = _filter_keys.get(text)
    if key is None:
        is_instance = dataclasses.is_dataclass(filters) and not isinstance(filters, type)
        values = dataclasses.asdict(filters) if is_instance else filters
        encoded = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
        key = hashlib.sha256(encoded.encode()).hexdigest()[:32]
        if len(_filter_keys) >= _FILTER_KEYS_KEPT:
            _filter_keys.clear()
        _filter_keys[text] = key
    return key


async def listing_total(
    cache: Cache | None,
    listing: str,
    filters: Any,
    *,
    skip: int,
    limit: int,
    page_rows: int,
    count: Callable[[], Awaitable[int]],
) -> int:
    """The number of rows matching ``filters``, given the page read at ``skip``/``limit``."""
    if 0 < page_rows < limit or (page_rows == 0 and skip == 0):
        return skip + page_rows
    if cache is None:
        return await count()
    key = f"{TOTALS_PREFIX}{listing}:{filter_key(filters)}"
    total = await cache.near(key, COUNT_CACHE_TTL_SECONDS, count, int)
    return max(total, skip + page_rows) if page_rows else total


async def invalidate_totals(cache: Cache | None) -> None:
    """Forget every cached total (after a write that changes what listings count)."""
    if cache is not None:
        await cache.invalidate_prefix(TOTALS_PREFIX)
