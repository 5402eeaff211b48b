"""``--rss-curve S``: sustained mixed load for S seconds, the server's RSS sampled every 5 s.

A server that leaks shows a steady positive slope once its caches are warm; a healthy one
climbs during the first minute (caches, allocator arenas) and then stays flat.
"""

from __future__ import annotations

import os
from typing import Any

from bench import seed, wrk
from bench.rss import Sampler, slope_mib_per_min
from bench.stand import Options, stand

INTERVAL = 5.0


def run(options: Options) -> dict[str, Any]:
    seconds = options.rss_curve
    if not seconds:
        raise ValueError("rss-curve mode needs --rss-curve SECONDS")
    with stand(options, label="rss-curve") as st:
        print(f"rss curve: seeding {options.records:,} customers ...", flush=True)
        seed.seed(st.server.base_url, st.identity.token, options.records)
        print(f"rss curve: {seconds:.0f} s of mixed load (60 % GET, 30 % PATCH, 10 % upsert) ...")
        with Sampler(st.server.pid, interval=INTERVAL) as rss:
            result = wrk.run(
                "mixed",
                st.server.base_url,
                duration=seconds,
                connections=options.connections,
                threads=st.place.load_threads,
                env=st.lua_env(options.records),
                cpus=st.place.load,
            )
        samples = [(round(t, 1), round(mib, 1)) for t, mib in rss.samples]
    result.rss_peak_mib = round(rss.peak, 1)
    result.load_avg = round(os.getloadavg()[0], 2)
    result.note = "60 % GET, 30 % PATCH, 10 % upsert"
    # The first minute is warm-up (caches fill): the slope after it is the one that matters.
    settled = [s for s in samples if s[0] >= 60] or samples
    return {
        "seconds": seconds,
        "interval": INTERVAL,
        "samples": samples,
        "start_mib": samples[0][1] if samples else 0.0,
        "end_mib": samples[-1][1] if samples else 0.0,
        "peak_mib": round(rss.peak, 1),
        "slope_mib_per_min": round(slope_mib_per_min(samples), 3),
        "slope_after_60s_mib_per_min": round(slope_mib_per_min(settled), 3),
        "load": result,
    }
