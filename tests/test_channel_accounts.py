"""``/api/channel/accounts``: create, list, patch ``baseDomain``; host names validated."""

from __future__ import annotations

from tests.harness import Harness, PartnerKey


def test_create_list_and_patch(api: Harness, partner: PartnerKey, tenant: str) -> None:
    h = api.tenant_headers(partner, tenant)
    assert api.client.get("/api/channel/accounts", headers=h).json()["data"] == []
    made = api.client.post(
        "/api/channel/accounts",
        json={"type": "twilio", "channelAccountMetadata": {"baseDomain": "Mail.Example.com"}},
        headers=h,
    )
    assert made.status_code == 200, made.text
    account = made.json()["data"]
    assert account["type"] == "twilio"
    assert account["channelAccountMetadata"] == {"baseDomain": "mail.example.com"}
    managed = api.client.post("/api/channel/accounts", json={"type": "reach-managed"}, headers=h)
    assert managed.status_code == 200, managed.text
    listed = api.client.get("/api/channel/accounts", headers=h).json()["data"]
    assert [a["type"] for a in listed] == ["twilio", "reach-managed"]
    patched = api.client.patch(
        f"/api/channel/accounts/{account['id']}",
        json={"channelAccountMetadata": {"baseDomain": "news.example.org"}},
        headers=h,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["channelAccountMetadata"] == {"baseDomain": "news.example.org"}
    again = api.client.get("/api/channel/accounts", headers=h).json()["data"]
    assert again[0]["channelAccountMetadata"]["baseDomain"] == "news.example.org"


def test_bad_input_is_a_400_and_unknown_ids_404(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    h = api.tenant_headers(partner, tenant)
    made = api.client.post("/api/channel/accounts", json={"type": "twilio"}, headers=h).json()
    account_id = made["data"]["id"]
    for body in (
        {"type": "sendgrid"},
        {"type": "twilio", "channelAccountMetadata": {"baseDomain": "https://x.example.com"}},
        {"type": "twilio", "channelAccountMetadata": {"baseDomain": "localhost"}},
        {"type": "twilio", "channelAccountMetadata": {"baseDomain": "10.0.0.1"}},
        {"type": "twilio", "extra": 1},
    ):
        response = api.client.post("/api/channel/accounts", json=body, headers=h)
        assert response.status_code == 400, (body, response.text)
    for body in (
        {},
        {"channelAccountMetadata": {}},
        {"channelAccountMetadata": {"baseDomain": "a..b"}},
    ):
        response = api.client.patch(f"/api/channel/accounts/{account_id}", json=body, headers=h)
        assert response.status_code == 400, (body, response.text)
        assert "channelAccountMetadata" in response.json()["errors"][0]
    good = {"channelAccountMetadata": {"baseDomain": "example.com"}}
    for missing in ("not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        response = api.client.patch(f"/api/channel/accounts/{missing}", json=good, headers=h)
        assert response.status_code == 404, response.text
