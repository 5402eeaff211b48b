"""``--compare-workers``: PATCH with ``reach serve --workers 1`` and ``--workers 2``.

Both runs are unpinned (two workers pinned to one core would measure nothing), so the server
and wrk share every core in both and the comparison stays fair. On a 2-core machine wrk takes
a good part of one core itself: expect less than 2x.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bench import seed
from bench.report import ratio
from bench.stand import Options, stand
from bench.stats import LoadResult


def run(options: Options) -> dict[str, Any]:
    unpinned = dataclasses.replace(options, pin=False)
    rows: dict[str, LoadResult] = {}
    for workers in (1, 2):
        with stand(unpinned, workers=workers, label=f"workers-{workers}") as st:
            print(f"compare workers: {workers} worker(s), seeding ...", flush=True)
            seed.seed(st.server.base_url, st.identity.token, options.records)
            print(f"compare workers: PATCH with {workers} worker(s) ...", flush=True)
            rows[f"patch {workers}w"] = st.drive("patch", records=options.records)
            rows[f"patch {workers}w"].note = f"reach serve --workers {workers}, unpinned"
    return {
        "rows": rows,
        "ratios": {"PATCH 2 workers / 1 worker": ratio(rows["patch 2w"], rows["patch 1w"])},
    }
