"""The Python client's segment, mapping and channel-account methods, against the real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reach.client import Client, Condition, NotFoundError
from tests.batch_helpers import customer
from tests.harness import Harness, PartnerKey


@pytest.fixture
def client(api: Harness, partner: PartnerKey, tenant: str) -> Iterator[Client]:
    with Client.for_partner(api.base_url, partner.id, partner.secret, tenant=tenant) as made:
        yield made


def test_segments_through_the_client(client: Client) -> None:
    for i in range(5):
        client.create("customers", customer(f"k{i}", firstName="Ada" if i < 3 else "Bob"))
    made = client.create_segment(
        "Adas", [Condition("firstName", "equals", ["Ada"])], description="named Ada"
    )
    assert made.conditions == [Condition("firstName", "equals", ["Ada"])]
    assert client.get_segment(made.id).name == "Adas"
    page = client.segment_members(made.id, limit=2)
    assert page.pagination.total == 3
    assert page.pagination.has_next_page
    assert [r.external_id for r in client.iterate_segment_members(made.id, page_size=2)] == [
        "k0",
        "k1",
        "k2",
    ]
    assert [s.id for s in client.user_segments("k1")] == [made.id]
    assert client.user_segments("k4") == []
    renamed = client.update_segment(
        made.id, {"conditions": [{"field": "firstName", "operator": "equals", "value": ["Bob"]}]}
    )
    assert [s.id for s in client.user_segments("k4")] == [renamed.id]
    assert [s.id for s in client.iterate_segments()] == [made.id]
    answer = client.text_to_segment("customers named Ada")
    assert answer.success
    assert answer.conditions == [Condition("firstName", "equals", ["Ada"])]
    client.delete_segment(made.id)
    with pytest.raises(NotFoundError):
        client.get_segment(made.id)


def test_mappings_and_channel_accounts_through_the_client(client: Client) -> None:
    mapping = client.get_schema_mappings()
    assert mapping["contactsSchema"]["primarySource"]["userId"] == "customerId"
    mapping["contactsSchema"]["primarySource"]["fullName"] = "$.firstName"
    assert client.set_schema_mappings(mapping)["contactsSchema"]["primarySource"]["fullName"]
    account = client.create_channel_account("twilio", "mail.example.com")
    updated = client.set_channel_base_domain(account.id, "news.example.com")
    assert updated.channel_account_metadata == {"baseDomain": "news.example.com"}
    assert [a.id for a in client.list_channel_accounts()] == [account.id]
