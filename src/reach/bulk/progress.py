"""Progress of an import or export: a tqdm bar on a terminal, plain lines otherwise.

tqdm rather than rich: a progress bar with rate and ETA is all we need, and tqdm is one
pure-Python package with no dependencies (rich brings pygments and markdown-it with it). Off a
terminal (CI logs, ``> file``), a redrawn bar would be carriage-return noise, so a plain line
is printed every ``interval`` seconds and once at the end, using tqdm's own number formatting
so both read alike.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Protocol

from tqdm import tqdm


class Progress(Protocol):
    def advance(self, records: int, rejected: int = 0) -> None: ...

    def close(self) -> None: ...


def _line(verb: str, done: int, total: int, rejected: int, rate: float) -> str:
    share = f" ({100 * done / total:.1f}%)" if total else ""
    remaining = max(total - done, 0)
    eta = tqdm.format_interval(remaining / rate) if rate > 0 and total else "?"
    return (
        f"{verb}: {done:,}/{total:,} records{share}, {rate:,.0f} records/s, "
        f"ETA {eta}, {rejected:,} rejected"
    )


class PlainProgress:
    """``import: 40,000/100,000 records (40.0%), 21,345 records/s, ETA 00:02, 0 rejected``"""

    def __init__(
        self, verb: str, total: int, *, initial: int = 0, interval: float = 5.0, out: IO[str]
    ) -> None:
        self._verb = verb
        self._total = total
        self._initial = initial
        self._done = initial
        self._rejected = 0
        self._interval = interval
        self._out = out
        self._started = time.monotonic()
        self._last = self._started

    def _rate(self, now: float) -> float:
        elapsed = now - self._started
        return (self._done - self._initial) / elapsed if elapsed > 0 else 0.0

    def advance(self, records: int, rejected: int = 0) -> None:
        self._done += records
        self._rejected += rejected
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._print(now)

    def _print(self, now: float) -> None:
        total = max(self._total, self._done)
        self._out.write(
            _line(self._verb, self._done, total, self._rejected, self._rate(now)) + "\n"
        )
        self._out.flush()

    def close(self) -> None:
        self._print(time.monotonic())


class BarProgress:
    def __init__(self, verb: str, total: int, *, initial: int = 0, out: IO[str]) -> None:
        self._rejected = 0
        self._bar = tqdm(
            total=total or None,
            initial=initial,
            desc=verb,
            unit=" records",
            unit_scale=True,
            file=out,
            dynamic_ncols=True,
            mininterval=0.2,
        )

    def advance(self, records: int, rejected: int = 0) -> None:
        if rejected:
            self._rejected += rejected
            self._bar.set_postfix(rejected=self._rejected, refresh=False)
        if self._bar.total is not None and self._bar.n + records > self._bar.total:
            self._bar.total = self._bar.n + records  # the line count was an estimate
        self._bar.update(records)

    def close(self) -> None:
        self._bar.close()


class NoProgress:
    def advance(self, records: int, rejected: int = 0) -> None:
        pass

    def close(self) -> None:
        pass


def progress_for(
    verb: str,
    total: int,
    *,
    initial: int = 0,
    interval: float = 5.0,
    out: IO[str] | None = None,
    quiet: bool = False,
) -> Progress:
    """A bar when ``out`` (stderr by default) is a terminal, plain lines when it is not."""
    stream = out or sys.stderr
    if quiet:
        return NoProgress()
    if stream.isatty():
        return BarProgress(verb, total, initial=initial, out=stream)
    return PlainProgress(verb, total, initial=initial, interval=interval, out=stream)
