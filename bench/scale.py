"""``--scale N``: does latency hold at N records? GET, PATCH and list pages at --records vs N.

Both datasets are bulk-loaded with SQL before their server starts (bench/bulk.py), so they
differ only in size. The list is read at page 1 and at a page deep in the list (its first
record about 1000 from the end): a keyset cursor should make both cost the same.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from bench import documents
from bench.stand import Options, Stand, stand
from bench.stats import LoadResult

LIST = "/api/resources/customers?limit=100"
LIST_CONNECTIONS = 8  # a list page is heavy: a few clients are enough to measure its latency


def _encode(payload: dict[str, Any]) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


def _decode(cursor: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return value


def _first_id(client: httpx.Client, path: str) -> str | None:
    response = client.get(path)
    if response.status_code != 200:
        return None
    results = response.json()["data"]["results"]
    return str(results[0]["resourceExternalId"]) if results else None


def deep_cursor(st: Stand, records: int) -> tuple[str, int]:
    """A cursor whose page starts about 1000 records from the end, and that position.

    The cursor is opaque to clients, but it is base64url JSON of the last key seen: re-encoding
    page 1's cursor with a later key jumps there at once, and the page's first record proves it
    landed where intended. Should the format change, walk there page by page (time-bounded).
    """
    target = max(100, records - 1000)
    headers = {"Authorization": f"Bearer {st.identity.token}"}
    with httpx.Client(base_url=st.server.base_url, headers=headers, timeout=120) as client:
        cursor = client.get(LIST).json()["data"]["pagination"]["cursor"]
        try:
            payload = _decode(cursor)
            first_key = int(payload["v"][0])  # the key of record number 100 (index 99)
            forged = _encode({**payload, "v": [first_key + target - 100]})
            if _first_id(client, f"{LIST}&cursor={forged}") == documents.customer_id(target):
                return forged, target
        except (ValueError, KeyError, IndexError, TypeError):
            pass
        position, deadline = 100, time.monotonic() + 120
        while position < target and time.monotonic() < deadline:
            page = client.get(f"/api/resources/customers?limit=1000&cursor={cursor}").json()
            if not page["data"]["pagination"]["hasNextPage"]:
                break
            cursor = page["data"]["pagination"]["cursor"]
            position += len(page["data"]["results"])
        return cursor, position


def _measure(st: Stand, records: int) -> dict[str, Any]:
    rows: dict[str, LoadResult] = {}
    for name in ("get", "patch"):
        print(f"  {name} at {records:,} records ...", flush=True)
        rows[name] = st.drive(name, records=records)
    cursor, position = deep_cursor(st, records)
    for label, path in (("list page 1", LIST), ("list deep page", f"{LIST}&cursor={cursor}")):
        print(f"  {label} at {records:,} records ...", flush=True)
        rows[label] = st.drive(
            "list",
            records=records,
            path=path,
            connections=LIST_CONNECTIONS,
            duration=max(3.0, st.options.duration / 2),
        )
    rows["list deep page"].note = f"page starts at record {position:,}"
    return {"records": records, "rows": rows}


def run(options: Options) -> dict[str, Any]:
    if options.scale is None:
        raise ValueError("scale mode needs --scale N")
    out: dict[str, Any] = {}
    for label, records in (("baseline", options.records), ("scale", options.scale)):
        print(f"scale mode: {label}, {records:,} records", flush=True)
        with stand(options, bulk_records=records, label=f"scale-{records}") as st:
            out[label] = _measure(st, records)
    base, big = out["baseline"]["rows"], out["scale"]["rows"]

    def p50_ratio(name: str) -> float | None:
        return round(big[name].p50_ms / base[name].p50_ms, 2) if base[name].p50_ms else None

    out["ratios"] = {
        f"GET p50 {options.scale:,} / {options.records:,}": p50_ratio("get"),
        f"PATCH p50 {options.scale:,} / {options.records:,}": p50_ratio("patch"),
        f"list page-1 p50 {options.scale:,} / {options.records:,}": p50_ratio("list page 1"),
        f"deep page / page 1 p50 at {options.scale:,}": (
            round(big["list deep page"].p50_ms / big["list page 1"].p50_ms, 2)
            if big["list page 1"].p50_ms
            else None
        ),
    }
    return out
