"""The published PATCH contract, as published, drives the server: schemathesis (its own CLI,
every phase and every check) generates requests from
``tests/contract/reference/patch-customer-resource.openapi.yaml`` — the shared reference's
copy, kept equal to it by ``tests/test_openapi.py`` — and every answer must be one the
contract documents (200/400/404, its bodies, its content type), on both engines.

Two passes: as a partner with ``reach-tenant-id`` generated (unknown tenants, records that do
not exist, the header missing), and as a tenant on one record that exists (the 200 path:
real merges and validation). Seeded, so a failure reproduces; bounded, so CI time is fixed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.batch_helpers import customer
from tests.harness import Harness, PartnerKey
from tests.openapi_support import IN_REPO_CONTRACT

EXAMPLES = 60
RECORD = "contract-1"

# Where the excerpt and the whole API part ways, said once:
# - positive_data_acceptance: the contract's request schema admits any extra field and any
#   `customerId`, while its own text says extra fields are rejected unless
#   ignoreUnknownFields=true, and it documents 400 for "Validation or request error" (Reach
#   also refuses a body key that differs from the path, and U+0000, which PostgreSQL cannot
#   store). So a schema-valid body may be a 400; anything but 200/400/404 still fails.
# - The path also serves GET, POST and DELETE (Reach's other pages, and our /openapi.json),
#   which this one-operation excerpt does not list. Those methods are not "unexpected", so
#   the coverage phase probes only methods the path truly refuses (unsupported_method then
#   demands 405 + Allow for each), and allow_header_conformance, which compares `Allow` with
#   the excerpt's single method, is left out.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = [200, 400, 404]

[phases.coverage]
unexpected-methods = ["PUT", "OPTIONS", "TRACE", "QUERY"]
"""
EXCLUDED = "allow_header_conformance"


def _schemathesis(
    base_url: str, headers: dict[str, str], config: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(config)
    arguments = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config_file),
        "run",
        str(IN_REPO_CONTRACT),
        "--url",
        base_url,
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED,
        "--seed",
        "1",
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "1",
        "--continue-on-failure",
        "--no-color",
        "--report",
        "har",
        "--report-har-path",
        str(tmp_path / "exchanges.har"),
    ]
    for name, value in headers.items():
        arguments += ["--header", f"{name}: {value}"]
    return subprocess.run(  # noqa: S603 - the schemathesis CLI of this environment
        arguments, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
    )


def _assert_clean(result: subprocess.CompletedProcess[str], minimum: int) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    counted = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counted, output
    assert int(counted.group(1)) == int(counted.group(2)) >= minimum, output


def _statuses(tmp_path: Path) -> Counter[int]:
    """How often each status was answered, from the run's HAR report."""
    entries = orjson.loads((tmp_path / "exchanges.har").read_bytes())["log"]["entries"]
    return Counter(int(entry["response"]["status"]) for entry in entries)


def test_the_published_contract_drives_the_server_as_a_partner(
    api: Harness, partner: PartnerKey, tenant: str, tmp_path: Path
) -> None:
    result = _schemathesis(
        api.base_url,
        {"Authorization": f"Bearer {api.partner_token(partner, ttl=3600)}"},
        CONFIG,
        tmp_path,
    )
    _assert_clean(result, 100)
    statuses = _statuses(tmp_path)
    assert statuses[400] > 0, statuses
    assert statuses[404] > 0, statuses


def test_the_published_contract_drives_the_server_as_a_tenant_on_a_record(
    api: Harness, partner: PartnerKey, tenant: str, tmp_path: Path
) -> None:
    headers = api.tenant_headers(partner, tenant)
    created = api.client.post(
        "/api/resources/customers", json={"data": customer(RECORD)}, headers=headers
    )
    assert created.status_code == 200, created.text
    pinned = CONFIG + f'\n[parameters]\n"path.externalId" = "{RECORD}"\n'
    result = _schemathesis(
        api.base_url,
        {
            "Authorization": f"Bearer {api.tenant_token(partner, tenant, ttl=3600)}",
            "reach-tenant-id": tenant,
        },
        pinned,
        tmp_path,
    )
    _assert_clean(result, 100)
    statuses = _statuses(tmp_path)
    assert statuses[200] >= 5, statuses  # the 200 path was taken: real merges, validated
    assert set(statuses) <= {200, 400, 404, 405, 415}, statuses


@pytest.fixture(autouse=True)
def _contract_present() -> None:
    if not IN_REPO_CONTRACT.exists():
        pytest.skip(f"no contract at {IN_REPO_CONTRACT}")
