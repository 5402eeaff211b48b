"""Structured logs: every line on stderr is one JSON object.

Two writers share the format. Ordinary log records (``reach.*`` loggers: errors, the batch
worker) go through :mod:`logging` with :class:`JsonFormatter`. The access log — one line per
request — does not: a record through :mod:`logging` costs ~30 µs (record, handler lock,
formatting), ten times the whole observer budget, so :class:`AccessLog` serialises its fixed
fields with orjson and writes the line itself (~3 µs).

An access line carries the request id, method, route *template*, status, duration and the
partner and tenant ids — never a token, a body, a query string or a concrete path (external
ids can be personal data).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import traceback
from typing import IO, Any

import orjson

from reach.web.edge import Exchange

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning"}


_MILLIS = tuple(f".{n:03d}Z" for n in range(1000))


class _Clock:
    """RFC 3339 UTC stamps with milliseconds; the seconds part is formatted once per second
    and the milliseconds come from a table (``strftime`` per line would cost more than the
    rest of the access line)."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def stamp_ns(self, now_ns: int) -> str:
        second, rest = divmod(now_ns, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._prefix + _MILLIS[rest // 1_000_000]

    def stamp(self, now: float) -> str:
        return self.stamp_ns(int(now * 1_000_000_000))


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message"}`` (+ ``exception``) for ordinary records."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self._clock.stamp(record.created),
            "level": _NAMES.get(record.levelno, "error"),
            "logger": record.name.lstrip("_"),  # granian's own logger is "_granian"
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return orjson.dumps(line).decode()


_HANDLER_NAME = "reach-json"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when the record is emitted, not when the handler
    was made (test runners and daemonising tools replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str) -> None:
    """Send the ``reach`` loggers to stderr as JSON at ``level``. Idempotent: building a
    second app in one process (the tests do) replaces the handler rather than doubling it."""
    logger = logging.getLogger("reach")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(LEVELS.get(level.lower(), logging.INFO))
    # The server's own logging (granian, uvicorn) must not print our records a second time.
    logger.propagate = False


def announce(logger: str, message: str) -> None:
    """One JSON line at info level whatever ``REACH_LOG_LEVEL`` says: a process saying it is
    up (supervisors and tests wait for it), not a log record to filter."""
    record = logging.LogRecord(logger, logging.INFO, __file__, 0, message, None, None)
    sys.stderr.write(JsonFormatter().format(record) + "\n")
    sys.stderr.flush()


def granian_log_config() -> dict[str, Any]:
    """granian's own lines (start-up, worker processes, shutdown), in every process it starts,
    as the same JSON lines on stderr (granian's default is plain text on stdout)."""
    handler = {"class": f"{__name__}._StderrHandler", "formatter": "json"}
    logger = {"handlers": ["json"], "level": "INFO", "propagate": False}
    return {
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {"_granian": logger, "granian.access": dict(logger)},
    }


class AccessLog:
    """The access-log observer: one JSON line per request on ``stream`` (stderr by default,
    looked up when written so a redirected ``sys.stderr`` is honoured).

    Lines are collected and written once per turn of the event loop: under load one write
    carries every request finished in that turn instead of a system call each, and a line is
    still out within the same turn."""

    __slots__ = ("_clock", "_pending", "_stream")

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._clock = _Clock()
        self._pending: list[bytes] = []

    def __call__(self, exchange: Exchange) -> None:
        line = orjson.dumps(
            {
                "ts": self._clock.stamp_ns(time.time_ns()),
                "level": "info",
                "logger": "reach.access",
                "message": "request",
                "requestId": exchange.request_id,
                "method": exchange.method,
                "route": exchange.route,
                "status": exchange.status,
                "durationMs": round(exchange.duration * 1000, 3),
                "partnerId": exchange.partner_id,
                "tenantId": exchange.tenant_id,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        pending = self._pending
        pending.append(line)
        if len(pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (called from plain code): write now
                self.flush()

    def flush(self) -> None:
        lines = b"".join(self._pending)
        self._pending.clear()
        stream = self._stream or sys.stderr
        try:
            # The bytes underneath the text stream: half the cost of a text write. The text
            # layer of stderr holds nothing between lines (it writes through), so lines from
            # both layers never interleave mid-line.
            raw = getattr(stream, "buffer", None)
            if raw is not None:
                raw.write(lines)
                raw.flush()
            else:
                stream.write(lines.decode())
                stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stderr must never fail a request that already succeeded
