"""Member scans: split over reader connections on SQLite (pages and totals the same as one
scan), and never holding up another tenant's requests — on both engines."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey
from tests.segment_helpers import member_ids, new_segment, put_customer

_LONG_READS = re.compile(r"^reach_db_long_reads (\S+)$", re.MULTILINE)


def _upload(api: Harness, headers: dict[str, str], items: list[dict[str, Any]]) -> None:
    accepted = api.client.post(
        "/api/resources/customers/batch", json={"resources": items}, headers=headers
    )
    assert accepted.status_code == 202, accepted.text
    assert wait_for_batch(api, headers, accepted.json()["data"]["batchId"])["status"] == "success"


def _long_reads(api: Harness) -> float:
    found = _LONG_READS.search(api.client.get("/metrics").text)
    assert found, "reach_db_long_reads is not among the metrics"
    return float(found.group(1))


def test_pages_and_totals_across_the_scan_parts(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """Members sit on both sides of every split point, with gaps in seq (other tenants' rows
    and deleted ones); every page size walks them in order and the total is exact."""
    h = api.tenant_headers(partner, tenant)
    other = api.tenant_headers(partner, api.new_tenant(partner))
    for i in range(12):
        put_customer(api, h, f"c{i:02d}", firstName="Ada" if i % 3 != 1 else "Bob")
        put_customer(api, other, f"o{i:02d}", firstName="Ada")
    for gone in ("c00", "c06"):
        assert api.client.delete(f"/api/resources/customers/{gone}", headers=h).status_code == 200
    ada = new_segment(api, h, [{"field": "firstName", "operator": "equals", "value": ["Ada"]}])
    expected = [f"c{i:02d}" for i in range(12) if i % 3 != 1 and i not in (0, 6)]
    for limit in (1, 2, 3, 5, 100):
        assert member_ids(api, h, ada, limit=limit) == (expected, len(expected))
    nobody = new_segment(api, h, [{"field": "firstName", "operator": "equals", "value": ["Cy"]}])
    assert member_ids(api, h, nobody) == ([], 0)


def test_a_long_member_scan_holds_up_no_other_request(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """While one tenant's member scan runs (seen running in ``reach_db_long_reads``), another
    tenant's read and write are answered, and the scan then completes with its answer."""
    h = api.tenant_headers(partner, tenant)
    for start in (0, 1000):
        _upload(
            api,
            h,
            [customer(f"c-{i}", email=f"c{i}@example.com") for i in range(start, start + 1000)],
        )
    # No member, and a costly test of every row: 20 conditions of 100 suffixes each.
    costly = [
        {
            "field": "email",
            "operator": "ends_with",
            "value": [f"@x{n}-{k}.test" for k in range(100)],
        }
        for n in range(20)
    ]
    segment = new_segment(api, h, costly)
    other_partner = api.new_partner()
    other = api.tenant_headers(other_partner, api.new_tenant(other_partner))
    put_customer(api, other, "someone", firstName="Ada")
    with (
        ThreadPoolExecutor(1) as pool,
        httpx.Client(base_url=api.base_url, timeout=300) as client,
    ):
        scan = pool.submit(client.get, f"/api/segments/{segment}/members", headers=h)
        deadline = time.monotonic() + 60
        while _long_reads(api) < 1:
            assert not scan.done(), "the scan ended before it was seen running"
            assert time.monotonic() < deadline, "the scan was never seen running"
            time.sleep(0.005)
        read = api.client.get("/api/resources/customers/someone", headers=other)
        assert read.status_code == 200, read.text
        assert read.json()["data"]["result"]["data"]["firstName"] == "Ada"
        written = api.client.patch(
            "/api/resources/customers/someone", json={"data": {"firstName": "Bo"}}, headers=other
        )
        assert written.status_code == 200, written.text
        assert not scan.done(), "the other tenant's requests waited for the scan"
        answered = scan.result()
    assert answered.status_code == 200, answered.text
    assert answered.json()["data"]["pagination"] == {
        "hasNextPage": False,
        "total": 0,
        "cursor": None,
    }
    assert _long_reads(api) == 0


def test_ends_with_on_json_text_never_matches_inside_an_escape(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """SQLite tests some suffixes on the value's JSON text: "there" must not match the JSON
    text ``tab\\there`` of a tab followed by "here", nor "n" that of a line feed."""
    h = api.tenant_headers(partner, tenant)
    names = {"tab": "tab\there", "quote": 'say "hi"', "line": "one\n", "plain": "Where"}
    for key, name in names.items():
        put_customer(api, h, key, firstName=name)
    cases = {
        "there": set(),
        "here": {"tab", "plain"},
        'i"': {"quote"},
        "n": set(),
        "\n": {"line"},
        "ere": {"tab", "plain"},
    }
    for suffix, expected in cases.items():
        condition = {"field": "firstName", "operator": "ends_with", "value": [suffix]}
        segment = new_segment(api, h, [condition])
        assert set(member_ids(api, h, segment)[0]) == expected, suffix
