"""A small bounded cache whose entries expire; per process, invalidated by local writes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    def __init__(self, ttl: float, max_size: int = 10_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: K, value: V, ttl: float | None = None) -> None:
        if self.ttl <= 0 and ttl is None:
            return
        if len(self._entries) >= self.max_size:
            self._evict()
        self._entries[key] = (time.monotonic() + (self.ttl if ttl is None else ttl), value)

    def invalidate(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def drop_if(self, doomed: Callable[[K, V], bool]) -> None:
        """Invalidate every entry ``doomed(key, value)`` picks: O(size), for rare events (a
        change announced by another process), never on a request's path."""
        for key in [k for k, (_, v) in self._entries.items() if doomed(k, v)]:
            del self._entries[key]

    def _evict(self) -> None:
        # The oldest entry, in O(1): dicts keep insertion order, and entries share one TTL (or
        # a shorter one), so the front is also about the first to expire. Scanning for expired
        # entries instead cost O(size) on every insert into a full cache.
        del self._entries[next(iter(self._entries))]
