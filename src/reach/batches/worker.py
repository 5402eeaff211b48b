"""The batch worker (issue 4)."""

from __future__ import annotations

from reach.services import Services


class Worker:
    async def stop(self) -> None:
        return None


def run_in_background(services: Services) -> Worker:
    del services
    return Worker()
