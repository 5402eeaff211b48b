"""Request deadlines without a timer per request.

``asyncio.timeout`` arms and disarms a loop timer for every request — about 12 µs here, a
tenth of a whole PATCH. Instead, each request registers its task and deadline in a dict, and
one watchdog task per process wakes a few times a second and cancels the overdue ones. A
deadline is therefore kept to within one tick (at most a second), which is what a 30-second
request timeout needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

Task = asyncio.Task[Any]


class Deadlines:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._tick = min(1.0, max(seconds / 4, 0.01))
        self._inflight: dict[Task, float] = {}
        self._expired: set[Task] = set()
        self._watchdog: Task | None = None

    def enter(self) -> Task | None:
        """Start the clock for the current request task (None outside a task)."""
        task = asyncio.current_task()
        if task is None:
            return None
        self._inflight[task] = time.monotonic() + self.seconds
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        return task

    def leave(self, task: Task | None) -> None:
        if task is not None:
            self._inflight.pop(task, None)
            self._expired.discard(task)

    def expired(self, task: Task | None) -> bool:
        """True when the watchdog cancelled ``task``; takes back that cancellation so the
        request can still answer (with a 503)."""
        if task is None or task not in self._expired:
            return False
        self._expired.discard(task)
        task.uncancel()
        return True

    async def _watch(self) -> None:
        while self._inflight:
            await asyncio.sleep(self._tick)
            now = time.monotonic()
            for task, deadline in list(self._inflight.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
