"""In-process cache: a TTL dict bounded by entry count, least recently used evicted first."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from magflow.cache.base import Cache


class MemoryCache(Cache):
    def __init__(
        self,
        name: str = "default",
        *,
        default_ttl: float | None = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, default_ttl)
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float | None, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def _get_raw(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, raw = entry
        if expires_at is not None and self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return raw

    async def _set_raw(self, key: str, raw: str, ttl: float | None) -> None:
        expires_at = None if ttl is None else self._clock() + ttl
        self._entries[key] = (expires_at, raw)
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            self._purge_expired()
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def _purge_expired(self) -> None:
        now = self._clock()
        for key in [k for k, (exp, _) in self._entries.items() if exp is not None and now >= exp]:
            del self._entries[key]

    async def _delete(self, key: str) -> bool:
        return self._entries.pop(key, None) is not None

    async def _invalidate_prefix(self, prefix: str) -> int:
        keys = [key for key in self._entries if key.startswith(prefix)]
        for key in keys:
            del self._entries[key]
        return len(keys)
