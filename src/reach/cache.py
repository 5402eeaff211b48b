"""A small bounded cache whose entries expire; per process, invalidated by local writes."""

from __future__ import annotations

import time
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

    def _evict(self) -> None:
        now = time.monotonic()
        for key in [k for k, (until, _) in self._entries.items() if until < now]:
            del self._entries[key]
        while len(self._entries) >= self.max_size:
            # Dicts keep insertion order: drop the oldest entry.
            del self._entries[next(iter(self._entries))]
