"""``reach import`` refuses what would silently damage data: a CSV row cut short (a file cut
mid-line) is a reject, never a partial update; a header column the schema does not know stops
the import before anything is sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from reach.client import Client
from tests.harness import Harness, PartnerKey

HEADER = "customerId,firstName,lastName,createdAt,emailOptOut\n"
AT = "2026-01-01T00:00:00Z"


def reach_import(
    api: Harness, partner: PartnerKey, tenant: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACH_")}
    env |= {
        "REACH_URL": api.base_url,
        "REACH_PARTNER_ID": partner.id,
        "REACH_PARTNER_SECRET": partner.secret,
    }
    return subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "reach", "import", *args, "--tenant", tenant],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def stored(api: Harness, partner: PartnerKey, tenant: str, schema: str) -> dict[str, Any]:
    with Client.for_partner(api.base_url, partner.id, partner.secret, tenant=tenant) as client:
        return {r.external_id: r.data for r in client.iterate(schema)}


def batches(api: Harness, partner: PartnerKey, tenant: str) -> list[Any]:
    listed = api.client.get("/api/batches", headers=api.tenant_headers(partner, tenant))
    assert listed.status_code == 200, listed.text
    results: list[Any] = listed.json()["data"]["results"]
    return results


def test_a_row_cut_short_is_a_reject_not_a_partial_update(
    api: Harness, partner: PartnerKey, tenant: str, tmp_path: Path
) -> None:
    existing = {"customerId": "c-1", "firstName": "Ada", "lastName": "Lovelace", "createdAt": AT}
    made = api.client.post(
        "/api/resources/customers",
        json={"data": {**existing, "emailOptOut": True}},
        headers=api.tenant_headers(partner, tenant),
    )
    assert made.status_code == 200, made.text
    source = tmp_path / "cut.csv"
    source.write_text(
        HEADER  # line 1
        + f"c-2,Bob,Jones,{AT},false\n"  # 2
        + "c-3,Cy\n"  # 3: short in the middle
        + f"c-4,Di,Prince,{AT},false\n"  # 4
        + "c-1,Truncat"  # 5: the file was cut here
    )

    result = reach_import(api, partner, tenant, "customers", str(source))

    assert result.returncode == 1, result.stderr
    summary = orjson.loads(result.stdout)
    assert (summary["rows"], summary["imported"], summary["rejected"]) == (4, 2, 2)
    rejects = [orjson.loads(x) for x in Path(summary["rejectsFile"]).read_text().splitlines()]
    assert [(r["line"], r["stage"], r["externalId"], r["errors"]) for r in rejects] == [
        (3, "coerce", "c-3", ["row has 2 values but the header 5 columns"]),
        (5, "coerce", "c-1", ["row has 2 values but the header 5 columns"]),
    ]
    records = stored(api, partner, tenant, "customers")
    assert set(records) == {"c-1", "c-2", "c-4"}
    assert records["c-1"]["firstName"] == "Ada"  # untouched
    assert records["c-1"]["emailOptOut"] is True


def test_an_unknown_column_stops_the_import_before_anything_is_sent(
    api: Harness, partner: PartnerKey, tenant: str, tmp_path: Path
) -> None:
    source = tmp_path / "extra.csv"
    source.write_text(
        "customerId,firstName,nickname,lastName,createdAt,shoeSize\n"
        + "".join(f"c-{n},Ada,Addy,Lovelace,{AT},38\n" for n in range(5))
    )

    refused = reach_import(api, partner, tenant, "customers", str(source))

    assert refused.returncode == 1
    message = refused.stderr
    assert "'nickname', 'shoeSize'" in message, message
    assert "customers" in message
    assert "--ignore-unknown-fields" in message
    assert "Traceback" not in message
    assert refused.stdout == ""
    assert stored(api, partner, tenant, "customers") == {}
    assert batches(api, partner, tenant) == []  # not one row went to the server
    assert not (tmp_path / "extra.csv.rejects.jsonl").exists()
    assert not (tmp_path / "extra.csv.import-state.json").exists()

    allowed = reach_import(
        api, partner, tenant, "customers", str(source), "--ignore-unknown-fields"
    )
    assert allowed.returncode == 0, allowed.stderr
    records = stored(api, partner, tenant, "customers")
    assert len(records) == 5
    assert records["c-0"] == {
        "customerId": "c-0",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "createdAt": AT,
        "emailOptOut": False,
        "smsOptOut": True,
    }


def test_a_schema_open_to_extra_fields_takes_any_column(
    api: Harness, partner: PartnerKey, tenant: str, tmp_path: Path
) -> None:
    made = api.client.post(
        "/partner/schema-definitions",
        json={
            "name": "notes",
            "externalIdField": "noteId",
            "schema": {
                "type": "object",
                "properties": {"noteId": {"type": "string"}},
                "additionalProperties": True,
                "required": ["noteId"],
            },
        },
        headers=api.partner_headers(partner),
    )
    assert made.status_code == 200, made.text
    source = tmp_path / "notes.csv"
    source.write_text("noteId,text\nn-1,hello\n")

    result = reach_import(api, partner, tenant, "notes", str(source))

    assert result.returncode == 0, result.stderr
    assert stored(api, partner, tenant, "notes") == {"n-1": {"noteId": "n-1", "text": "hello"}}
