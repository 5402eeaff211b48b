"""``reach serve --workers N``: one set of metrics across N processes.

Imported by the CLI before granian starts its workers, so it must not import prometheus_client
(see the package docstring).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def shared_between_workers(workers: int) -> Iterator[str | None]:
    """For ``reach serve``: with several workers, a fresh directory for prometheus_client's
    multiprocess files, set in the environment the workers inherit and removed afterwards.
    An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is used as it is and left in place."""
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        yield os.environ.get(MULTIPROC_ENV) if workers > 1 else None
        return
    path = tempfile.mkdtemp(prefix="reach-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)
