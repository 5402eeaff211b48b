"""What :func:`reach.web.app.create_app` plugs in: the Edge observers, ``/metrics``, and the
lifespan hooks, chosen from the settings."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from reach.config import Settings
from reach.observability.logs import LEVELS, AccessLog, configure_logging
from reach.observability.metrics import Metrics
from reach.services import Services
from reach.web.edge import Observer

__all__ = ["Observability", "setup"]


class Observability:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level)
        self.metrics = Metrics(settings.metrics_token) if settings.metrics else None
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
