"""Caches learn of this process's writes one way: the announced change, handed to the
database's ``on_change`` after COMMIT (``Connection.after_commit``) — never on a rollback.

The HTTP tests use a node whose caches would otherwise live for an hour, and make the cache
observably stale first (a change written in SQL behind its back, announced to nobody), so
"still served" and "forgotten" can be told apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reach import clock
from reach.storage import notify
from reach.storage.database import Connection, ignore_changes
from tests.contract.resources import object_schema
from tests.harness import Harness, PartnerKey
from tests.servers import extra_server

HOUR = 3600


@pytest.fixture
def recorded(api: Harness) -> Iterator[list[str]]:
    """What the harness's own database hands to ``on_change``."""
    seen: list[str] = []
    api.db.on_change = seen.append
    try:
        yield seen
    finally:
        api.db.on_change = ignore_changes


@pytest.fixture
def node(api: Harness) -> Iterator[str]:
    with extra_server(api, lookup_cache_seconds=HOUR) as base:
        yield base


class Boom(Exception):
    pass


def test_a_committed_change_is_handed_over_after_commit_once(
    api: Harness, partner: PartnerKey, recorded: list[str]
) -> None:
    during: list[list[str]] = []

    async def change(conn: Connection) -> None:
        await conn.execute("UPDATE partners SET name = name WHERE id = $1", partner.id)
        await notify.announce(conn, notify.SCHEMAS, partner.id)
        during.append(list(recorded))

    api.transaction(change)
    assert during == [[]]  # not before COMMIT
    assert recorded == [f"schemas:{partner.id}:"]


def test_a_rolled_back_change_is_never_handed_over(
    api: Harness, partner: PartnerKey, recorded: list[str]
) -> None:
    async def change(conn: Connection) -> None:
        await conn.execute("UPDATE partners SET name = 'renamed' WHERE id = $1", partner.id)
        await notify.announce(conn, notify.TENANT, partner.id, str(uuid.uuid4()))
        raise Boom

    with pytest.raises(Boom):
        api.transaction(change)
    assert recorded == []

    async def name(conn: Connection) -> Any:
        return await conn.fetchval("SELECT name FROM partners WHERE id = $1", partner.id)

    assert api.transaction(name) == partner.name  # and the write itself rolled back


def _behind_its_back(api: Harness, sql: str, *args: Any) -> None:
    """A change no cache hears of: plain SQL, nothing announced."""

    async def run(conn: Connection) -> None:
        assert await conn.execute(sql, *args) not in (0, "UPDATE 0")

    api.transaction(run)


def _list(api: Harness, base: str, partner: PartnerKey, tenant: str, schema: str) -> int:
    return httpx.get(
        f"{base}/api/resources/{schema}",
        headers=api.partner_headers(partner, tenant),
        timeout=30,
    ).status_code


def test_schemas_a_rolled_back_write_keeps_the_cache_a_committed_one_drops_it_at_once(
    api: Harness, partner: PartnerKey, tenant: str, node: str
) -> None:
    name = f"thing{uuid.uuid4().hex[:8]}"
    created = httpx.post(
        f"{node}/partner/schema-definitions",
        json={
            "name": name,
            "pluralName": f"{name}s",
            "external_id_field": "key",
            "schema": object_schema({"key": {"type": "string"}}, ["key"]),
        },
        headers=api.partner_headers(partner),
        timeout=30,
    )
    assert created.status_code == 200, created.text
    assert _list(api, node, partner, tenant, name) == 200  # now cached on the node
    _behind_its_back(
        api,
        "UPDATE schema_definitions SET deactivated_at = $1 WHERE id = $2",
        clock.now(),
        created.json()["data"]["id"],
    )
    assert _list(api, node, partner, tenant, name) == 200  # served from the stale cache

    # A schema write that fails after it announced the change (a name cannot change): 400,
    # rolled back, so nothing may be forgotten.
    refused = httpx.post(
        f"{node}/partner/schema-definitions/customers",
        json={"name": "renamed"},
        headers=api.partner_headers(partner),
        timeout=30,
    )
    assert refused.status_code == 400, refused.text
    assert _list(api, node, partner, tenant, name) == 200

    # A committed write of any of the partner's definitions: forgotten before the answer.
    changed = httpx.post(
        f"{node}/partner/schema-definitions/customers",
        json={"description": "changed"},
        headers=api.partner_headers(partner),
        timeout=30,
    )
    assert changed.status_code == 200, changed.text
    assert _list(api, node, partner, tenant, name) == 404


def test_tenants_a_committed_rename_is_seen_at_once_on_this_node(
    api: Harness, partner: PartnerKey, tenant: str, node: str
) -> None:
    assert _list(api, node, partner, tenant, "customers") == 200  # cached by external id
    renamed = f"{tenant}-renamed"
    response = httpx.patch(
        f"{node}/partner/tenants/{tenant}",
        json={"externalId": renamed},
        headers=api.partner_headers(partner),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert _list(api, node, partner, tenant, "customers") == 404
    assert _list(api, node, partner, renamed, "customers") == 200


def test_tenants_a_refused_change_keeps_the_cache(
    api: Harness, partner: PartnerKey, tenant: str, node: str
) -> None:
    assert _list(api, node, partner, tenant, "customers") == 200
    _behind_its_back(
        api,
        "UPDATE tenants SET deleted_at = $1 WHERE partner_id = $2 AND external_id = $3",
        clock.now(),
        partner.id,
        tenant,
    )
    assert _list(api, node, partner, tenant, "customers") == 200  # stale, as intended
    other = api.new_tenant(partner)
    # A refused change of another tenant of the partner: rolled back, nothing forgotten.
    refused = httpx.patch(
        f"{node}/partner/tenants/{other}",
        json={"externalId": other, "name": ""},
        headers=api.partner_headers(partner),
        timeout=30,
    )
    assert refused.status_code == 400, refused.text
    assert _list(api, node, partner, tenant, "customers") == 200
