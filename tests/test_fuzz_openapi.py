"""Schemathesis against our own served ``/openapi.json``: every documented operation, requests
generated from its schema (valid and invalid), as a partner (with ``reach-tenant-id``) and as a
tenant. No 5xx, and every response conforms to the document: a documented status code, the
documented content type, headers and body schema.

Bounded and deterministic (``derandomize``): a fixed number of examples per operation, the same
ones every run, so CI time is predictable and a failure reproduces.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.harness import Harness, PartnerKey

EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _fuzz(operation: Any, mode: Any, base_url: str, headers: dict[str, str]) -> int:
    calls = 0

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        _no_long_poll(case)
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
    return calls


def _no_long_poll(case: Any) -> None:
    """A valid ``wait`` on the feed would make the example wait up to 30 s when nothing is new:
    it is sent as 0 (long polls have tests of their own); an invalid one is sent as made."""
    query = case.query
    if case.path != "/api/events" or not isinstance(query, dict) or "wait" not in query:
        return
    try:
        valid = 0 <= int(str(query["wait"])) <= 30
    except ValueError:
        valid = False
    if valid:
        query["wait"] = 0


@pytest.mark.parametrize("caller", ["partner", "tenant"])
def test_generated_requests_to_every_route_never_5xx_and_match_the_document(
    api: Harness, partner: PartnerKey, tenant: str, caller: str
) -> None:
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json", timeout=30)
    headers = (
        api.partner_headers(partner, tenant)
        if caller == "partner"
        else api.tenant_headers(partner, tenant)
    )
    # Invalid input is the same attack whoever sends it: once, as the tenant, to bound CI time.
    modes = [schemathesis.GenerationMode.POSITIVE]
    if caller == "tenant":
        modes.append(schemathesis.GenerationMode.NEGATIVE)
    failures: list[str] = []
    operations = 0
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in modes:
            try:
                calls += _fuzz(operation, mode, api.base_url, headers)
            except Unsatisfiable:
                continue  # nothing to make invalid: the operation takes no input at all
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert operations >= 15
    assert calls >= operations * EXAMPLES // 2
    assert not failures, "\n\n".join(failures)
