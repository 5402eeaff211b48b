"""The client's ``history()``, ``events()`` and ``iterate_events()`` against the real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from reach.client import Client
from tests.batch_helpers import customer
from tests.harness import Harness, PartnerKey


@pytest.fixture
def client(api: Harness, partner: PartnerKey, tenant: str) -> Iterator[Client]:
    with Client.for_partner(api.base_url, partner.id, partner.secret, tenant=tenant) as made:
        yield made


def test_history_of_a_record_with_a_slash_in_its_id(client: Client) -> None:
    client.create("customers", customer("a/history"))
    client.patch("customers", "a/history", {"phone": "+1"})
    page = client.history("customers", "a/history")
    assert [(e.type, e.version) for e in page.results] == [
        ("resource.updated", 2),
        ("resource.created", 1),
    ]
    assert page.results[0].changes == {"phone": {"from": None, "to": "+1"}}
    assert page.pagination.has_next_page is False


def test_iterate_events_tails_the_feed_and_resumes_at_its_cursor(client: Client) -> None:
    start = client.events().pagination.cursor
    client.create("customers", customer("it-1"))
    tail = client.iterate_events(cursor=start, wait=5, types=["resource.created"])
    first = next(tail)
    assert first.resource_external_id == "it-1"

    def later() -> None:
        time.sleep(0.5)
        client.create("customers", customer("it-2"))

    writer = threading.Thread(target=later)
    writer.start()
    second = next(tail)  # waits in a long poll until the write commits
    writer.join()
    assert second.resource_external_id == "it-2"
    assert second.sequence is not None
    assert first.sequence is not None
    assert second.sequence > first.sequence
    client.patch("customers", "it-2", {"phone": "+2"})
    rest = list(client.iterate_events(cursor=tail.cursor, follow=False))
    assert [(e.type, e.resource_external_id) for e in rest] == [("resource.updated", "it-2")]
