"""The per-process caches stay bounded and never serve an expired entry."""

from __future__ import annotations

import time

from reach.cache import TTLCache
from reach.domain.recent import RecentRecords


def test_a_full_cache_drops_its_oldest_entry_and_keeps_its_size() -> None:
    cache: TTLCache[int, str] = TTLCache(ttl=60, max_size=3)
    for key in range(5):
        cache.put(key, f"v{key}")
    assert [cache.get(key) for key in range(5)] == [None, None, "v2", "v3", "v4"]


def test_an_expired_entry_is_not_served() -> None:
    cache: TTLCache[str, str] = TTLCache(ttl=60)
    cache.put("token", "principal", ttl=0.01)
    time.sleep(0.02)
    assert cache.get("token") is None


def test_record_hints_keep_the_most_recently_seen_records() -> None:
    hints = RecentRecords(max_size=2)
    a, b, c = ("t", "s", "a"), ("t", "s", "b"), ("t", "s", "c")
    hints.put(a, {"version": 1})
    hints.put(b, {"version": 1})
    hints.put(a, {"version": 2})  # seen again: now the newest
    hints.put(c, {"version": 1})
    assert hints.get(b) is None
    assert hints.get(a) == {"version": 2}
    assert hints.get(c) == {"version": 1}
    assert len(hints) == 2


def test_record_hints_can_be_turned_off() -> None:
    hints = RecentRecords(max_size=0)
    hints.put(("t", "s", "a"), {"version": 1})
    assert hints.get(("t", "s", "a")) is None
