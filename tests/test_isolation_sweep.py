"""One sweep over every route the app serves: nobody reaches another tenant's or partner's data.

The route list comes from the app itself, so a new route fails this test until it has a row
in ``ATTACKS`` (or is listed in ``PUBLIC``). Each row aims an attacker's credentials at a
victim's ids — by UUID and by external id, in the path, the ``reach-tenant-id`` header, the
body and batch items — and expects 404/403 (or, for requests that are legitimate in the
attacker's own namespace, a success that touches only the attacker's data). No response may
carry a victim's id, name or data, and every victim object reads back byte for byte unchanged.

Attacker: partner A, acting for its tenant ``a1`` (tenant token, and partner token + header).
Victims: ``a2``, a sibling tenant of the same partner; partner B and its tenant ``b1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from reach import clock
from reach.domain.ordered_ids import new_ordered_id
from reach.storage import webhook_deliveries as outbox
from reach.web.app import create_app
from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey

PUBLIC = {
    "/healthz": "liveness, touches nothing",
    "/readyz": "readiness, database reachable",
    "/openapi.json": "the API description (a partner token adds its own schemas)",
    "/docs": "Swagger UI page",
    "/redoc": "Redoc page",
    "/docs/assets": "static files of the docs pages",
    "/metrics": "Prometheus metrics (aggregates; no ids)",
}


@dataclass
class Probe:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    expect: tuple[int, ...] = (404,)


@dataclass
class World:
    api: Harness
    a: PartnerKey
    b: PartnerKey
    a1: str
    a2: str
    b1: str
    ids: dict[str, str] = field(default_factory=dict)
    markers: dict[str, str] = field(default_factory=dict)
    # The attacker's own objects: they may show up in the attacker's answers.
    own_ids: dict[str, str] = field(default_factory=dict)

    # -- credentials
    def tenant(self) -> dict[str, str]:
        return self.api.tenant_headers(self.a, self.a1)

    def partner(self, tenant: str | None = None) -> dict[str, str]:
        return self.api.partner_headers(self.a, tenant)

    def intruders(self) -> list[dict[str, str]]:
        """Attacker credentials that name a victim tenant: 403 or 404, never its data."""
        return [
            {**self.tenant(), "reach-tenant-id": self.ids["a2"]},
            {**self.tenant(), "reach-tenant-id": self.a2},
            {**self.tenant(), "x-tenant-id": self.ids["b1"]},
            self.partner(self.ids["b1"]),
            self.partner(self.b1),
            self.partner(self.ids["b1"].upper()),
        ]

    def own(self) -> list[dict[str, str]]:
        return [self.tenant(), self.partner(self.a1)]


def _victim_records(w: World) -> list[str]:
    return [w.markers["b1 record"], w.markers["a2 record"]]


def _tenant_route(method: str, path: str, body: Any = None) -> Callable[[World], list[Probe]]:
    """Header attacks on a tenant route: every intruder credential → 403/404."""

    def probes(w: World) -> list[Probe]:
        return [Probe(method, path, h, body, (403, 404)) for h in w.intruders()]

    return probes


def _record_route(method: str, body: Any = None) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        found: list[Probe] = []
        for record in _victim_records(w):
            found += _tenant_route(method, f"/api/resources/customers/{record}", body)(w)
            if method != "POST":  # POST .../{id} creates the attacker's own record: legitimate
                found += [
                    Probe(method, f"/api/resources/customers/{record}", h, body) for h in w.own()
                ]
        found += [
            Probe(method, f"/api/resources/customers/{w.ids['b1 record']}", h, body, (404,))
            for h in w.own()
            if method != "POST"
        ]
        for schema in (w.markers["b schema"], w.ids["b schema"]):
            found += [Probe(method, f"/api/resources/{schema}/x-1", h, body) for h in w.own()]
        return found

    return probes


def _history(w: World) -> list[Probe]:
    """A victim's record key in the attacker's own tenant is a record with no history (200,
    empty); the victim's tenant through a header is 403/404; another partner's schema 404."""
    found: list[Probe] = []
    for record in _victim_records(w):
        path = f"/api/resources/customers/{record}/history"
        found += _tenant_route("GET", path)(w)
        found += [Probe("GET", path, h, None, (200,)) for h in w.own()]
    for schema in (w.markers["b schema"], w.ids["b schema"]):
        found += [Probe("GET", f"/api/resources/{schema}/x-1/history", h) for h in w.own()]
    return found


def _events_feed(w: World) -> list[Probe]:
    found = _tenant_route("GET", "/api/events")(w)
    found += [Probe("GET", "/api/events?limit=1000", h, None, (200,)) for h in w.own()]
    for schema in (w.markers["b schema"], w.ids["b schema"]):
        found += [Probe("GET", f"/api/events?schema={schema}", h) for h in w.own()]
    return found


def _collection(method: str, body: Any = None) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        found = _tenant_route(method, "/api/resources/customers", body)(w)
        for schema in (w.markers["b schema"], w.ids["b schema"]):
            found += [Probe(method, f"/api/resources/{schema}", h, body) for h in w.own()]
        if method == "GET":
            found += [Probe("GET", "/api/resources/customers", h, None, (200,)) for h in w.own()]
        else:
            # A reference to a victim's customer is a reference to nothing in a1's data.
            transaction = {
                "data": {
                    "transactionId": f"t-{uuid.uuid4().hex[:8]}",
                    "transactionDate": "2026-01-01T00:00:00Z",
                    "transactionTotal": 1,
                    "customerId": w.markers["b1 record"],
                }
            }
            found += [
                Probe("POST", "/api/resources/transactions", h, transaction, (400,))
                for h in w.own()
            ]
        return found

    return probes


def _batch(method: str) -> Callable[[World], list[Probe]]:
    items = {"resources": [{"data": customer(r)} for r in ("x-batch",)]}
    body: Any = {"externalIds": ["x-batch"], "dryRun": True} if method == "DELETE" else items

    def probes(w: World) -> list[Probe]:
        found = _tenant_route(method, "/api/resources/customers/batch", body)(w)
        for schema in (w.markers["b schema"], w.ids["b schema"]):
            found += [Probe(method, f"/api/resources/{schema}/batch", h, body) for h in w.own()]
        if method == "DELETE":
            # A dry run over victims' external ids previews a1's own (empty) matches only.
            dry = {"externalIds": _victim_records(w), "dryRun": True}
            found += [
                Probe("DELETE", "/api/resources/customers/batch", h, dry, (200,)) for h in w.own()
            ]
        if method == "PATCH":
            # Batch items naming victims' records: accepted, then fail in a1's own data.
            patch = {
                "resources": [
                    {"data": {"customerId": r, "firstName": "X"}} for r in _victim_records(w)
                ]
            }
            found += [Probe("PATCH", "/api/resources/customers/batch", w.tenant(), patch, (202,))]
        return found

    return probes


def _batches_list(w: World) -> list[Probe]:
    return _tenant_route("GET", "/api/batches")(w) + [
        Probe("GET", "/api/batches", h, None, (200,)) for h in w.own()
    ]


def _batch_by_id(w: World) -> list[Probe]:
    found: list[Probe] = []
    for batch in (w.ids["b1 batch"], w.ids["a2 batch"]):
        found += [Probe("GET", f"/api/batches/{batch}", h) for h in w.own()]
        found += _tenant_route("GET", f"/api/batches/{batch}")(w)
    return found


def _tenants_list(method: str) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        if method == "GET":
            return [
                Probe("GET", "/partner/tenants", w.partner(), None, (200,)),
                Probe(
                    "GET",
                    f"/partner/tenants?search={w.markers['b1 name']}",
                    w.partner(),
                    None,
                    (200,),
                ),
                Probe("GET", "/partner/tenants", w.tenant(), None, (403,)),
            ]
        body = {"external_id": f"t-{uuid.uuid4().hex[:8]}", "name": "n", "locations": []}
        return [Probe("POST", "/partner/tenants", w.tenant(), body, (403,))]

    return probes


def _tenant_by_id(method: str) -> Callable[[World], list[Probe]]:
    body = {"name": "renamed"} if method == "PATCH" else None

    def probes(w: World) -> list[Probe]:
        found = [
            Probe(method, f"/partner/tenants/{victim}", w.partner(), body)
            for victim in (w.ids["b1"], w.b1, w.ids["b1"].upper())
        ]
        found += [Probe(method, f"/partner/tenants/{w.a1}", w.tenant(), body, (403,))]
        return found

    return probes


def _schemas_list(method: str) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        if method == "GET":
            return [
                Probe("GET", "/partner/schema-definitions", w.partner(), None, (200,)),
                Probe("GET", "/partner/schema-definitions", w.tenant(), None, (403,)),
            ]
        return [Probe("POST", "/partner/schema-definitions", w.tenant(), {}, (403,))]

    return probes


def _schema_by_id(method: str) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        body = {"description": "hijacked"} if method == "POST" else None
        return [
            Probe(method, f"/partner/schema-definitions/{victim}", w.partner(), body)
            for victim in (w.ids["b schema"], w.markers["b schema"])
        ] + [
            Probe(
                method,
                f"/partner/schema-definitions/{w.markers['b schema']}",
                w.tenant(),
                body,
                (403,),
            )
        ]

    return probes


def _mappings(method: str) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        if method == "GET":
            return [
                Probe("GET", "/partner/schema-mappings", w.partner(), None, (200,)),
                Probe("GET", "/partner/schema-mappings", w.tenant(), None, (403,)),
            ]
        # Mapping the victim partner's schema: not one of A's schemas, a 400.
        source = {"schemaId": w.ids["b schema"], "userId": "vaultId"}
        body = {"type": "combined_schema", "contactsSchema": {"primarySource": source}}
        return [
            Probe("POST", "/partner/schema-mappings", w.partner(), body, (400,)),
            Probe("POST", "/partner/schema-mappings", w.tenant(), body, (403,)),
        ]

    return probes


def _segments_collection(method: str, body: Any = None) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        return _tenant_route(method, "/api/segments", body)(w) + [
            Probe(method, "/api/segments", h, body, (200,)) for h in w.own()
        ]

    return probes


def _text_to_segment(w: World) -> list[Probe]:
    body = {"text": f"customers named {w.markers['b data']}"}
    return _tenant_route("POST", "/api/segments/text-to-segment", body)(w) + [
        Probe("POST", "/api/segments/text-to-segment", h, body, (200,)) for h in w.own()
    ]


def _user_segments(w: World) -> list[Probe]:
    found: list[Probe] = []
    for record in _victim_records(w):
        found += _tenant_route("GET", f"/api/segments/user/{record}")(w)
        found += [Probe("GET", f"/api/segments/user/{record}", h) for h in w.own()]
    return found


def _segment(method: str, suffix: str = "", body: Any = None) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        found: list[Probe] = []
        for victim in (w.ids["b1 segment"], w.ids["a2 segment"]):
            path = f"/api/segments/{victim}{suffix}"
            found += [Probe(method, path, h, body) for h in w.own()]
            found += _tenant_route(method, path, body)(w)
        return found

    return probes


def _channel_accounts(method: str, body: Any = None) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        return _tenant_route(method, "/api/channel/accounts", body)(w) + [
            Probe(method, "/api/channel/accounts", h, body, (200,)) for h in w.own()
        ]

    return probes


def _channel_account(w: World) -> list[Probe]:
    body = {"channelAccountMetadata": {"baseDomain": "hijack.example.com"}}
    found: list[Probe] = []
    for victim in (w.ids["b1 account"], w.ids["a2 account"]):
        path = f"/api/channel/accounts/{victim}"
        found += [Probe("PATCH", path, h, body) for h in w.own()]
        found += _tenant_route("PATCH", path, body)(w)
    return found


def _webhooks_collection(method: str) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        if method == "GET":
            return [
                Probe("GET", "/partner/webhooks", w.partner(), None, (200,)),
                Probe("GET", "/partner/webhooks", w.tenant(), None, (403,)),
            ]
        url = "https://hooks.example.com/attacker"
        return [
            Probe("POST", "/partner/webhooks", w.tenant(), {"url": url}, (403,)),
            # Filters naming the victim's tenant or schema: not the attacker's, a 400.
            Probe(
                "POST", "/partner/webhooks", w.partner(), {"url": url, "tenants": [w.b1]}, (400,)
            ),
            Probe(
                "POST",
                "/partner/webhooks",
                w.partner(),
                {"url": url, "tenants": [w.ids["b1"]]},
                (400,),
            ),
            Probe(
                "POST",
                "/partner/webhooks",
                w.partner(),
                {"url": url, "schemas": [w.markers["b schema"]]},
                (400,),
            ),
        ]

    return probes


def _webhook(method: str, suffix: str = "", body: Any = None) -> Callable[[World], list[Probe]]:
    def probes(w: World) -> list[Probe]:
        path = f"/partner/webhooks/{w.ids['b hook']}{suffix}"
        found = [
            Probe(method, path, w.partner(), body),
            Probe(
                method, path.replace(w.ids["b hook"], w.ids["b hook"].upper()), w.partner(), body
            ),
            Probe(method, path, w.tenant(), body, (403,)),
        ]
        if method == "PATCH":
            # The attacker's own endpoint filtered to the victim's tenant: a 400.
            own = f"/partner/webhooks/{w.own_ids['a hook']}"
            found.append(Probe("PATCH", own, w.partner(), {"tenants": [w.ids["b1"]]}, (400,)))
        return found

    return probes


def _webhook_retry(w: World) -> list[Probe]:
    victim = f"/partner/webhooks/{w.ids['b hook']}/deliveries/{w.ids['b delivery']}/retry"
    # The victim's delivery under the attacker's own endpoint: still not found.
    mixed = f"/partner/webhooks/{w.own_ids['a hook']}/deliveries/{w.ids['b delivery']}/retry"
    return [
        Probe("POST", victim, w.partner()),
        Probe("POST", mixed, w.partner()),
        Probe("POST", victim, w.tenant(), None, (403,)),
    ]


RECORD = "/api/resources/{schema}/{externalId:path}"
_SEGMENT = {"name": "mine", "conditions": [{"field": "email", "operator": "exists", "value": []}]}
ATTACKS: dict[tuple[str, str], Callable[[World], list[Probe]]] = {
    ("GET", RECORD): _record_route("GET"),
    ("PATCH", RECORD): _record_route("PATCH", {"data": {"firstName": "Hijacked"}}),
    ("POST", RECORD): _record_route("POST", {"data": {"firstName": "Hijacked"}}),
    ("DELETE", RECORD): _record_route("DELETE"),
    ("GET", "/api/resources/{schema}"): _collection("GET"),
    ("POST", "/api/resources/{schema}"): _collection("POST", {"data": customer("x-new")}),
    ("POST", "/api/resources/{schema}/batch"): _batch("POST"),
    ("PATCH", "/api/resources/{schema}/batch"): _batch("PATCH"),
    ("DELETE", "/api/resources/{schema}/batch"): _batch("DELETE"),
    ("GET", "/api/batches"): _batches_list,
    ("GET", "/api/events"): _events_feed,
    ("GET", "/api/resources/{schema}/{externalId:path}/history"): _history,
    ("GET", "/api/batches/{batchId}"): _batch_by_id,
    ("GET", "/partner/tenants"): _tenants_list("GET"),
    ("POST", "/partner/tenants"): _tenants_list("POST"),
    ("GET", "/partner/tenants/{id}"): _tenant_by_id("GET"),
    ("PATCH", "/partner/tenants/{id}"): _tenant_by_id("PATCH"),
    ("DELETE", "/partner/tenants/{id}"): _tenant_by_id("DELETE"),
    ("GET", "/partner/schema-definitions"): _schemas_list("GET"),
    ("POST", "/partner/schema-definitions"): _schemas_list("POST"),
    ("GET", "/partner/schema-definitions/{idOrName}"): _schema_by_id("GET"),
    ("POST", "/partner/schema-definitions/{idOrName}"): _schema_by_id("POST"),
    ("DELETE", "/partner/schema-definitions/{idOrName}"): _schema_by_id("DELETE"),
    ("GET", "/partner/schema-mappings"): _mappings("GET"),
    ("POST", "/partner/schema-mappings"): _mappings("POST"),
    ("GET", "/api/segments"): _segments_collection("GET"),
    ("POST", "/api/segments"): _segments_collection("POST", _SEGMENT),
    ("POST", "/api/segments/text-to-segment"): _text_to_segment,
    ("GET", "/api/segments/user/{externalId:path}"): _user_segments,
    ("GET", "/api/segments/{id}"): _segment("GET"),
    ("PATCH", "/api/segments/{id}"): _segment("PATCH", body={"name": "hijacked"}),
    ("DELETE", "/api/segments/{id}"): _segment("DELETE"),
    ("GET", "/api/segments/{id}/members"): _segment("GET", "/members"),
    ("GET", "/api/channel/accounts"): _channel_accounts("GET"),
    ("POST", "/api/channel/accounts"): _channel_accounts("POST", {"type": "twilio"}),
    ("PATCH", "/api/channel/accounts/{id}"): _channel_account,
    ("GET", "/partner/webhooks"): _webhooks_collection("GET"),
    ("POST", "/partner/webhooks"): _webhooks_collection("POST"),
    ("GET", "/partner/webhooks/{id}"): _webhook("GET"),
    ("PATCH", "/partner/webhooks/{id}"): _webhook("PATCH", body={"url": "https://x.example/"}),
    ("DELETE", "/partner/webhooks/{id}"): _webhook("DELETE"),
    ("POST", "/partner/webhooks/{id}/rotate-secret"): _webhook("POST", "/rotate-secret"),
    ("GET", "/partner/webhooks/{id}/deliveries"): _webhook("GET", "/deliveries"),
    ("POST", "/partner/webhooks/{id}/deliveries/{deliveryId}/retry"): _webhook_retry,
}


def served_routes() -> list[tuple[str, str]]:
    """(method, path) for every route of the real app; HEAD rides on GET's row."""
    app = create_app()
    found: list[tuple[str, str]] = []
    for route in app.routes:
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None) or {"GET"}
        found += [(m, path) for m in sorted(methods) if m != "HEAD"]
    return found


def test_every_served_route_has_an_isolation_row() -> None:
    missing = [
        (method, path)
        for method, path in served_routes()
        if (method, path) not in ATTACKS and path not in PUBLIC
    ]
    assert not missing, f"routes with no isolation row in ATTACKS (or PUBLIC): {missing}"
    stale = set(ATTACKS) - set(served_routes())
    assert not stale, f"ATTACKS rows for routes the app no longer serves: {stale}"


def _make_world(api: Harness) -> World:
    tag = uuid.uuid4().hex[:10]
    a, b = api.new_partner(f"attacker-{tag}"), api.new_partner(f"victim-partner-{tag}")
    w = World(
        api,
        a,
        b,
        api.new_tenant(a, f"a1-{tag}"),
        api.new_tenant(a, f"a2-{tag}"),
        api.new_tenant(b, f"b1-{tag}"),
    )
    w.markers = {
        "b1 record": f"vb-{tag}",
        "a2 record": f"va-{tag}",
        "b1 name": f"Tenant b1-{tag}",
        "a2 name": f"Tenant a2-{tag}",
        "b schema": f"vault{tag}",
        "b partner name": f"victim-partner-{tag}",
        "b data": f"VictimFirst{tag}",
        "a2 data": f"SiblingFirst{tag}",
        "b1 segment": f"VictimSegment{tag}",
        "a2 segment": f"SiblingSegment{tag}",
    }
    for key, partner, tenant in (("a2", a, w.a2), ("b1", b, w.b1)):
        got = api.client.get(f"/partner/tenants/{tenant}", headers=api.partner_headers(partner))
        w.ids[key] = got.json()["data"]["id"]
    schema = {
        "name": w.markers["b schema"],
        "pluralName": f"{w.markers['b schema']}s",
        "category": "custom_schema",
        "externalIdField": "vaultId",
        "description": f"victim schema {tag}",
        "schema": {"type": "object", "properties": {"vaultId": {"type": "string"}}},
    }
    made = api.client.post(
        "/partner/schema-definitions", json=schema, headers=api.partner_headers(b)
    )
    assert made.status_code == 200, made.text
    w.ids["b schema"] = made.json()["data"]["id"]
    for key, partner, tenant, first in (("b1", b, w.b1, "b data"), ("a2", a, w.a2, "a2 data")):
        headers = api.tenant_headers(partner, tenant)
        record = customer(
            w.markers[f"{key} record"],
            firstName=w.markers[first],
            email=f"{tag}-{key}@victim.example",
        )
        created = api.client.post(
            "/api/resources/customers", json={"data": record}, headers=headers
        )
        assert created.status_code == 200, created.text
        w.ids[f"{key} record"] = created.json()["data"]["id"]
        batch = api.client.post(
            "/api/resources/customers/batch",
            json={"resources": [{"data": record}]},
            headers=headers,
        )
        assert batch.status_code == 202, batch.text
        w.ids[f"{key} batch"] = batch.json()["data"]["batchId"]
        wait_for_batch(api, headers, w.ids[f"{key} batch"])
        # A segment its record belongs to, and a channel account.
        condition = {"field": "firstName", "operator": "equals", "value": [w.markers[first]]}
        segment = {"name": w.markers[f"{key} segment"], "conditions": [condition]}
        made = api.client.post("/api/segments", json=segment, headers=headers)
        assert made.status_code == 200, made.text
        w.ids[f"{key} segment"] = made.json()["data"]["id"]
        account = {
            "type": "twilio",
            "channelAccountMetadata": {"baseDomain": f"{tag}.{key}.example"},
        }
        made = api.client.post("/api/channel/accounts", json=account, headers=headers)
        assert made.status_code == 200, made.text
        w.ids[f"{key} account"] = made.json()["data"]["id"]
    _make_webhooks(w, tag)
    return w


def _make_webhooks(w: World, tag: str) -> None:
    """The victim partner's endpoint (disabled: nothing is sent) with one queued delivery of
    an event of b1's; the attacker's own endpoint."""
    api = w.api
    w.markers["b hook url"] = f"https://victim-{tag}.example/hook"
    made = api.client.post(
        "/partner/webhooks",
        json={"url": w.markers["b hook url"], "tenants": [w.b1], "description": f"vhook-{tag}"},
        headers=api.partner_headers(w.b),
    )
    assert made.status_code == 200, made.text
    w.ids["b hook"] = made.json()["data"]["id"]
    w.markers["b hook secret"] = made.json()["data"]["secret"]
    api.client.patch(
        f"/partner/webhooks/{w.ids['b hook']}",
        json={"enabled": False},
        headers=api.partner_headers(w.b),
    )
    w.ids["b delivery"] = new_ordered_id()
    w.ids["b event"] = str(uuid.uuid4())
    delivery = outbox.NewDelivery(
        w.ids["b delivery"],
        w.ids["b hook"],
        w.b.id,
        w.ids["b1"],
        w.ids["b event"],
        "tenant.updated",
        1,
        orjson.dumps({"type": "tenant.updated", "data": {"name": w.markers["b1 name"]}}).decode(),
        clock.now(),
    )
    api.transaction(lambda conn: outbox.insert_many(conn, [delivery]))
    own = api.client.post(
        "/partner/webhooks",
        json={"url": "https://hooks.example.com/own"},
        headers=api.partner_headers(w.a),
    )
    assert own.status_code == 200, own.text
    w.own_ids["a hook"] = own.json()["data"]["id"]
    api.client.patch(
        f"/partner/webhooks/{w.own_ids['a hook']}",
        json={"enabled": False},
        headers=api.partner_headers(w.a),
    )


def _victim_state(w: World) -> list[bytes]:
    api = w.api
    views = []
    for partner, tenant, key in ((w.b, w.b1, "b1"), (w.a, w.a2, "a2")):
        headers = api.tenant_headers(partner, tenant)
        for path in (
            f"/api/resources/customers/{w.markers[f'{key} record']}",
            "/api/resources/customers",
            f"/api/batches/{w.ids[f'{key} batch']}",
            f"/partner/tenants/{tenant}",
            f"/api/segments/{w.ids[f'{key} segment']}",
            f"/api/segments/{w.ids[f'{key} segment']}/members",
            f"/api/segments/user/{w.markers[f'{key} record']}",
            "/api/channel/accounts",
            "/api/events?limit=1000",
            f"/api/resources/customers/{w.markers[f'{key} record']}/history",
        ):
            h = api.partner_headers(partner) if path.startswith("/partner") else headers
            response = api.client.get(path, headers=h)
            assert response.status_code == 200, response.text
            views.append(response.content)
    for path in (
        f"/partner/schema-definitions/{w.ids['b schema']}",
        f"/partner/webhooks/{w.ids['b hook']}",
        f"/partner/webhooks/{w.ids['b hook']}/deliveries",
    ):
        response = api.client.get(path, headers=api.partner_headers(w.b))
        assert response.status_code == 200, response.text
        views.append(response.content)
    return views


def _secrets(w: World, path: str = "") -> list[str]:
    every = [*w.markers.values(), *w.ids.values(), w.b.id, w.b.secret, w.b1, w.a2]
    if path.startswith("/partner/"):
        # Partner A may of course see its own tenant a2 — but none of a2's data.
        return [s for s in every if s not in (w.markers["a2 name"], w.ids["a2"], w.a2)]
    return every


def _sent(probe: Probe) -> str:
    return probe.path + orjson.dumps(probe.headers).decode() + orjson.dumps(probe.body).decode()


@pytest.fixture(scope="module")
def world(api: Harness) -> World:
    return _make_world(api)


def test_no_route_lets_anyone_reach_another_tenants_or_partners_data(
    api: Harness, world: World
) -> None:
    w = world
    before = _victim_state(w)
    tried = 0
    for (method, path), attacks in ATTACKS.items():
        for probe in attacks(w):
            response = api.client.request(
                probe.method,
                probe.path,
                headers={**probe.headers, "Content-Type": "application/json"},
                content=None if probe.body is None else orjson.dumps(probe.body),
            )
            where = f"{method} {path}: {probe.method} {probe.path} {probe.headers}"
            assert response.status_code in probe.expect, (where, response.text)
            # Echoing what the attacker sent is no leak; anything else of a victim's is.
            sent = _sent(probe)
            for secret in _secrets(w, probe.path):
                if secret.lower() not in sent.lower():
                    assert secret.lower() not in response.text.lower(), (where, secret)
            if probe.method == "GET" and response.status_code == 200:
                total = response.json()["data"]
                # Event pages (feed, history) have no total; their content is checked above.
                if isinstance(total, dict) and "total" in total.get("pagination", {}):
                    assert total["pagination"]["total"] <= 3, (where, total)
            tried += 1
    assert tried > 100
    assert _victim_state(w) == before


@pytest.mark.parametrize("path", sorted(p for p in PUBLIC if p != "/docs/assets"))
def test_public_routes_carry_no_tenant_data(api: Harness, world: World, path: str) -> None:
    w = world
    for headers in ({}, api.partner_headers(w.a)):
        response = api.client.get(path, headers=headers)
        if response.status_code == 404 and path == "/metrics":
            continue  # metrics turned off
        assert response.status_code == 200, response.text
        text = response.text.lower()
        for secret in _secrets(w):
            assert secret.lower() not in text, (path, secret)
