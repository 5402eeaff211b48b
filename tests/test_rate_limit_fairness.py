"""One tenant cannot starve its siblings through the partner budget (issue 11, Medium).

A request refused by its tenant's limit spends nothing of its partner's budget, and is refused
before its body is read; a request naming a tenant that does not exist still costs its partner.
"""

from __future__ import annotations

from collections import Counter

import httpx

from tests.harness import Harness, PartnerKey
from tests.servers import exchange, extra_server

PROBE = "/api/resources/customers"
# Per hour rather than per minute (the report's figures): the same shape, and no window can
# end while the test runs.
LIMITS = {"rate_limit": "60/hour", "tenant_rate_limit": "20/hour"}


def test_a_tenant_over_its_limit_leaves_the_partner_budget_to_its_siblings(
    api: Harness, partner: PartnerKey
) -> None:
    noisy, quiet = api.new_tenant(partner), api.new_tenant(partner)
    with extra_server(api, **LIMITS) as base, httpx.Client(base_url=base) as client:
        noisy_headers = api.tenant_headers(partner, noisy)
        answers = [client.get(PROBE, headers=noisy_headers) for _ in range(100)]
        assert Counter(r.status_code for r in answers) == {200: 20, 429: 80}
        assert all("for this tenant" in r.json()["message"] for r in answers[20:])
        # The sibling and the partner's own routes still have 60 - 20 of the partner budget.
        sibling = client.get(PROBE, headers=api.tenant_headers(partner, quiet))
        assert sibling.status_code == 200, sibling.text
        own = client.get("/partner/tenants", headers=api.partner_headers(partner))
        assert own.status_code == 200, own.text
        assert own.headers["ratelimit-limit"] == "60"
        assert own.headers["ratelimit-remaining"] == str(60 - 20 - 2)


def test_a_tenant_over_its_limit_is_refused_before_its_body_is_read(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    limits = {"rate_limit": "60/hour", "tenant_rate_limit": "1/hour"}
    authorization = api.tenant_headers(partner, tenant)["Authorization"]
    with extra_server(api, request_timeout_seconds=5.0, **limits) as base:
        assert httpx.get(f"{base}{PROBE}", headers={"Authorization": authorization}).is_success
        head = (
            f"POST {PROBE} HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n"
            f"Authorization: {authorization}"
        )
        # 10 of the 100 bytes, then silence: reading the body would wait for the timeout (503).
        response = exchange(base, head, b'{"data": {')
        assert response.status == 429, response.body
        assert b"for this tenant" in response.body


def test_naming_tenants_that_do_not_exist_still_spends_the_partner_budget(
    api: Harness, partner: PartnerKey
) -> None:
    with extra_server(api, rate_limit="3/hour") as base, httpx.Client(base_url=base) as client:
        for n in range(3):
            missing = client.get(PROBE, headers=api.partner_headers(partner, f"nobody-{n}"))
            assert missing.status_code == 404, missing.text
            assert missing.headers["ratelimit-remaining"] == str(2 - n)
        refused = client.get(PROBE, headers=api.partner_headers(partner, "nobody-else"))
        assert refused.status_code == 429, refused.text
        assert "for this partner" in refused.json()["message"]
