"""``reach import`` / ``reach export`` against the real server: round trips, rejects with line
numbers, resuming an interrupted import, and the progress lines written off a terminal."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from reach.bulk.importer import Importer, state_path_for
from reach.client import Client
from tests.harness import Harness, PartnerKey

CUSTOMER_COLUMNS = [
    "customerId", "firstName", "lastName", "email", "phone", "emailOptOut", "smsOptOut", "createdAt"
]  # fmt: skip
PROGRESS = re.compile(
    r"^import: [\d,]+/[\d,]+ records \(\d+\.\d%\), [\d,]+ records/s, ETA \S+, [\d,]+ rejected$"
)


@dataclass
class Bulk:
    api: Harness
    partner: PartnerKey
    tenant: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REACH_")}
        env |= {
            "REACH_URL": self.api.base_url,
            "REACH_PARTNER_ID": self.partner.id,
            "REACH_PARTNER_SECRET": self.partner.secret,
        }
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "reach", *args, "--tenant", self.tenant]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
            self.argv(*args),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def client(self) -> Client:
        return Client.for_partner(
            self.api.base_url, self.partner.id, self.partner.secret, tenant=self.tenant
        )


@pytest.fixture
def bulk(api: Harness, partner: PartnerKey, tenant: str) -> Bulk:
    return Bulk(api, partner, tenant)


def customer_rows(count: int, prefix: str = "c") -> list[list[str]]:
    return [
        [
            f"{prefix}-{n:06d}",
            f"First{n}",
            f"Last{n}",
            f"customer{n}@example.com",
            f"+1555{n:07d}",
            "true" if n % 3 == 0 else "false",
            "false" if n % 5 == 0 else "true",
            "2026-01-01T00:00:00Z",
        ]
        for n in range(count)
    ]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sorted_csv(text: str) -> tuple[list[str], list[list[str]]]:
    header, *rows = list(csv.reader(io.StringIO(text)))
    return header, sorted(rows)


def test_a_csv_import_exports_back_to_the_same_file_with_progress_lines(
    bulk: Bulk, tmp_path: Path
) -> None:
    rows = customer_rows(2500)
    source = write_csv(tmp_path / "customers.csv", CUSTOMER_COLUMNS, rows)

    imported = bulk.run("import", "customers", str(source), "--progress-interval", "0")
    assert imported.returncode == 0, imported.stderr
    summary = orjson.loads(imported.stdout)
    assert (summary["rows"], summary["imported"], summary["rejected"]) == (2500, 2500, 0)
    assert summary["rejectsFile"] is None
    progress = [line for line in imported.stderr.splitlines() if line.startswith("import:")]
    assert len(progress) >= 3  # one per acknowledged batch at interval 0, and a last one
    assert all(PROGRESS.match(line) for line in progress), progress
    assert progress[-1].startswith("import: 2,500/2,500 records (100.0%)")
    assert not state_path_for(source).exists()  # a finished import leaves no state behind

    target = tmp_path / "out.csv"
    exported = bulk.run(
        "export", "customers", "--output", str(target), "--fields", ",".join(CUSTOMER_COLUMNS)
    )
    assert exported.returncode == 0, exported.stderr
    assert orjson.loads(exported.stdout)["records"] == 2500
    assert sorted_csv(target.read_text()) == (CUSTOMER_COLUMNS, sorted(rows))


GADGET_SCHEMA = {
    "name": "gadgets",
    "pluralName": "gadgets",
    "category": "custom_schema",
    "externalIdField": "sku",
    "schema": {
        "type": "object",
        "properties": {
            "sku": {"type": "string"},
            "units": {"type": "integer"},
            "price": {"type": "number"},
            "active": {"type": "boolean"},
            "size": {"type": "object", "additionalProperties": True},
            "tags": {"type": "array", "items": {"type": "string"}},
            "note": {"type": ["string", "null"]},
        },
        "required": ["sku"],
    },
}


def gadget(n: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "sku": f"g-{n:05d}",
        "units": n,
        "price": n + 0.25,
        "active": n % 2 == 0,
        "size": {"w": n % 7, "unit": "cm"},
        "tags": [f"t{n % 3}", "gadget"],
    }
    if n % 4:
        doc["note"] = f"note {n}, with a comma"
    return doc


def test_jsonl_and_typed_csv_round_trip(bulk: Bulk, tmp_path: Path) -> None:
    with bulk.client() as client:
        client.create_schema(GADGET_SCHEMA)
    docs = [gadget(n) for n in range(1200)]
    source = tmp_path / "gadgets.jsonl"
    source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    imported = bulk.run("import", "gadgets", str(source))
    assert imported.returncode == 0, imported.stderr

    exported = bulk.run("export", "gadgets")  # JSON Lines on stdout by default
    assert exported.returncode == 0, exported.stderr
    back = [orjson.loads(line) for line in exported.stdout.splitlines()]
    assert sorted(back, key=lambda d: d["sku"]) == docs
    assert orjson.loads(exported.stderr.splitlines()[-1])["records"] == 1200

    # The same records as CSV: cells typed by the schema on the way in, written back alike.
    columns = ["sku", "active", "note", "price", "size", "tags", "units"]  # key first, then A-Z
    as_csv = bulk.run("export", "gadgets", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    header, rows = sorted_csv(as_csv.stdout)
    assert header == columns
    assert rows[1] == [
        "g-00001", "false", "note 1, with a comma", "1.25", '{"w":1,"unit":"cm"}',
        '["t1","gadget"]', "1",
    ]  # fmt: skip
    edited = [[*row[:6], str(int(row[6]) + 1000)] for row in rows]
    reimport = write_csv(tmp_path / "gadgets.csv", header, edited)
    assert bulk.run("import", "gadgets", str(reimport)).returncode == 0
    again = bulk.run("export", "gadgets", "--format", "csv")
    assert sorted_csv(again.stdout) == (header, edited)


def test_rejected_rows_are_written_with_their_line_numbers_and_reasons(
    bulk: Bulk, tmp_path: Path
) -> None:
    source = tmp_path / "mixed.csv"
    source.write_text(
        "customerId,firstName,lastName,createdAt,emailOptOut\n"  # line 1
        "c-1,Ada,Lovelace,2026-01-01T00:00:00Z,false\n"  # 2
        'c-2,"Ann\nMarie",Smith,2026-01-01T00:00:00Z,true\n'  # 3-4: one record, two lines
        "c-3,Bob,Jones,2026-01-01T00:00:00Z,maybe\n"  # 5: not a boolean
        "c-4,Cy,,2026-01-01T00:00:00Z,false\n"  # 6: lastName required (the server says so)
        "\n"  # 7: blank
        "c-5,Di,Prince,not-a-date,false\n"  # 8: the server refuses the date
        "c-6,Ed,Ward,2026-01-01T00:00:00Z,no\n"  # 9
    )
    result = bulk.run("import", "customers", str(source))
    assert result.returncode == 1
    assert "3 row(s) rejected" in result.stderr
    summary = orjson.loads(result.stdout)
    assert (summary["rows"], summary["imported"], summary["rejected"]) == (6, 3, 3)
    rejects_file = Path(summary["rejectsFile"])
    assert rejects_file == tmp_path / "mixed.csv.rejects.jsonl"
    rejects = [orjson.loads(line) for line in rejects_file.read_text().splitlines()]
    assert [(r["line"], r["stage"], r["externalId"]) for r in rejects] == [
        (5, "coerce", "c-3"),
        (6, "server", "c-4"),
        (8, "server", "c-5"),
    ]
    assert rejects[0]["errors"] == ["emailOptOut: expected true or false, got 'maybe'"]
    assert any("lastName" in e for e in rejects[1]["errors"])
    assert any("createdAt" in e for e in rejects[2]["errors"])
    with bulk.client() as client:
        stored = {r.external_id: r.data for r in client.iterate("customers")}
    assert set(stored) == {"c-1", "c-2", "c-6"}
    assert stored["c-2"]["firstName"] == "Ann\nMarie"
    assert stored["c-6"]["emailOptOut"] is False


def test_jsonl_rejects_name_their_lines(bulk: Bulk, tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    good = orjson.dumps(
        {
            "customerId": "j-1",
            "firstName": "A",
            "lastName": "B",
            "createdAt": "2026-01-01T00:00:00Z",
        }
    ).decode()
    source.write_text(f"{good}\n{{not json\n\n[1, 2]\n")
    result = bulk.run("import", "customers", str(source))
    assert result.returncode == 1
    rejects = [
        orjson.loads(x) for x in (tmp_path / "bad.jsonl.rejects.jsonl").read_text().splitlines()
    ]
    assert [(r["line"], r["stage"]) for r in rejects] == [(2, "coerce"), (4, "coerce")]
    assert rejects[1]["errors"] == ["expected a JSON object"]


class StopAfter:
    """A progress display that interrupts the import (as Ctrl-C would) after ``chunks``
    acknowledged chunks."""

    def __init__(self, chunks: int) -> None:
        self.left = chunks

    def advance(self, records: int, rejected: int = 0) -> None:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


def test_an_interrupted_import_resumes_after_the_last_acknowledged_chunk(
    bulk: Bulk, tmp_path: Path
) -> None:
    rows = customer_rows(1000)
    rows[450][5] = "perhaps"  # a reject in the part that is imported twice
    rows[150][5] = "unsure"  # and one in the part acknowledged before the interruption
    source = write_csv(tmp_path / "big.csv", CUSTOMER_COLUMNS, rows)
    stop: Callable[[int, int], Any] = lambda total, done: StopAfter(2)  # noqa: E731
    importer = Importer(
        bulk.client(), "customers", source, fmt="csv", progress=stop, chunk_size=100, concurrency=3
    )
    with pytest.raises(KeyboardInterrupt):
        importer.run()
    state = orjson.loads(state_path_for(source).read_bytes())
    # Two chunks of 100 records; the second also holds the reject on line 152.
    assert (state["next_line"], state["rows"], state["rejected"]) == (203, 201, 1)

    resumed = bulk.run("import", "customers", str(source), "--resume")
    assert resumed.returncode == 1, resumed.stderr  # the two bad rows
    summary = orjson.loads(resumed.stdout)
    assert summary["resumedFromLine"] == 203
    assert (summary["rows"], summary["imported"], summary["rejected"]) == (1000, 998, 2)
    rejects = (tmp_path / "big.csv.rejects.jsonl").read_text().splitlines()
    assert [orjson.loads(r)["line"] for r in rejects] == [152, 452]  # each once
    assert not state_path_for(source).exists()
    exported = bulk.run(
        "export", "customers", "--format", "csv", "--fields", ",".join(CUSTOMER_COLUMNS)
    )
    _, back = sorted_csv(exported.stdout)
    assert back == sorted(r for n, r in enumerate(rows) if n not in (150, 450))


def test_a_killed_import_process_resumes(bulk: Bulk, tmp_path: Path) -> None:
    rows = customer_rows(8000, prefix="k")
    source = write_csv(tmp_path / "killed.csv", CUSTOMER_COLUMNS, rows)
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        bulk.argv(
            "import", "customers", str(source), "--concurrency", "1", "--progress-interval", "0"
        ),
        env=bulk.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()  # the first acknowledged chunk of eight
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert first.startswith("import: 1,000/"), first
    assert state_path_for(source).exists()

    resumed = bulk.run("import", "customers", str(source), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    summary = orjson.loads(resumed.stdout)
    assert summary["resumedFromLine"] >= 1002
    assert summary["imported"] == 8000
    exported = bulk.run(
        "export", "customers", "--format", "csv", "--fields", ",".join(CUSTOMER_COLUMNS)
    )
    assert sorted_csv(exported.stdout) == (CUSTOMER_COLUMNS, sorted(rows))


def test_resume_refuses_a_file_that_changed(bulk: Bulk, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "changing.csv", CUSTOMER_COLUMNS, customer_rows(300))
    stop: Callable[[int, int], Any] = lambda total, done: StopAfter(1)  # noqa: E731
    importer = Importer(
        bulk.client(), "customers", source, fmt="csv", progress=stop, chunk_size=100
    )
    with pytest.raises(KeyboardInterrupt):
        importer.run()
    with source.open("a") as handle:
        handle.write("c-extra,A,B,a@example.com,+1,false,true,2026-01-01T00:00:00Z\n")
    refused = bulk.run("import", "customers", str(source), "--resume")
    assert refused.returncode == 1
    assert "run without --resume" in refused.stderr
