"""Observability: Prometheus ``/metrics``, structured JSON logs, the access log.

:func:`setup` is called once per app by :func:`reach.app.create_app`; what it returns supplies
the Edge observers, the ``/metrics`` route and the lifespan hooks. Each observer runs after
every response, so each is kept to a few microseconds (the README's Observability section
gives the measured cost).
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from reach.config import Settings
from reach.edge import Observer
from reach.observability.logs import LEVELS, AccessLog, configure_logging
from reach.observability.metrics import Metrics, shared_between_workers
from reach.services import Services

__all__ = ["Observability", "setup", "shared_between_workers"]


class Observability:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level)
        self.metrics = Metrics() if settings.metrics else None
        # Access lines are info records: a warning-level server prints none.
        quiet = LEVELS.get(settings.log_level.lower(), 20) > LEVELS["info"]
        self.access_log = AccessLog() if settings.access_log and not quiet else None

    @property
    def observers(self) -> list[Observer]:
        found: list[Observer] = []
        if self.metrics is not None:
            found.append(self.metrics.observe)
        if self.access_log is not None:
            found.append(self.access_log)
        return found

    def routes(self) -> list[BaseRoute]:
        if self.metrics is None:
            return []
        return [Route("/metrics", self.metrics.endpoint, methods=["GET"], include_in_schema=False)]

    def start(self, services: Services) -> None:
        if self.metrics is not None:
            self.metrics.start(services)

    async def stop(self) -> None:
        if self.metrics is not None:
            await self.metrics.stop()


def setup(settings: Settings) -> Observability:
    return Observability(settings)
