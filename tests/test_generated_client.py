"""A client generated from the served ``/openapi.json`` by openapi-python-client, driven through
a whole partner flow against the real server: typed models for every body, nothing sent that
the caller did not set, every answer parsed as documented.

The generator runs as a subprocess into a temporary directory; the package it writes is then
imported from there (a name of its own per engine, removed again afterwards).
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.harness import Harness, PartnerKey

GENERATOR = "openapi_python_client"
CREATED = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def _generate(document: bytes, where: Path, package: str) -> ModuleType:
    spec = where / "openapi.json"
    spec.write_bytes(document)
    config = where / "generator.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: the code is only imported
    result = subprocess.run(  # noqa: S603 - the generator's own entry point, fixed arguments
        [
            sys.executable,
            "-m",
            GENERATOR,
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(where / package),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # "Warning(s) encountered": the generator skipped something (an untyped body, say).
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    return importlib.import_module(package)


@pytest.fixture
def generated(api: Harness, partner: PartnerKey, tmp_path: Path) -> Iterator[ModuleType]:
    if importlib.util.find_spec(GENERATOR) is None:
        pytest.skip("openapi-python-client is not installed (it is in the dev extra)")
    document = api.client.get("/openapi.json", headers=api.partner_headers(partner))
    assert document.status_code == 200, document.text
    package = f"reach_generated_{api.engine}_{uuid.uuid4().hex[:8]}"
    sys.path.insert(0, str(tmp_path))
    try:
        yield _generate(document.content, tmp_path, package)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[name]


def _module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    assert response.parsed is not None, response.content
    return response.parsed


def test_a_generated_client_runs_a_whole_partner_flow(
    api: Harness, partner: PartnerKey, generated: ModuleType
) -> None:
    models = _module(generated, "models")
    tenants = _module(generated, "api.tenants")
    schemas = _module(generated, "api.schema_definitions")
    typed = _module(generated, "api.default_partner_resources")
    generic = _module(generated, "api.partner_resources")
    batches = _module(generated, "api.batch_operations")
    for group, names in (
        (tenants, ["create_tenant"]),
        (schemas, ["create_schema_definition", "update_schema_definition"]),
        (schemas, ["delete_schema_definition"]),
        (typed, ["create_resource_customers", "patch_resource_customers"]),
        (typed, ["get_resource_customers", "list_resources_customers"]),
        (typed, ["delete_resource_customers", "batch_upload_resources_customers"]),
        (generic, ["create_resource", "get_resource", "delete_resource"]),
        (batches, ["get_batch"]),
    ):
        for name in names:
            importlib.import_module(f"{group.__name__}.{name}")
    client = generated.AuthenticatedClient(
        base_url=api.base_url, token=api.partner_token(partner), raise_on_unexpected_status=True
    )

    # A tenant.
    external_id = f"gen-{uuid.uuid4().hex[:8]}"
    made = tenants.create_tenant.sync_detailed(
        client=client, body=models.TenantCreate(external_id=external_id, name="Gen", locations=[])
    )
    assert _ok(made).data.external_id == external_id
    tenant = {"reach_tenant_id": external_id}

    # A custom schema: a typed create body, then an update that sends only what it sets.
    created = schemas.create_schema_definition.sync_detailed(
        client=client,
        body=models.SchemaDefinitionCreate(
            name="Book",
            pluralName="Books",
            externalIdField="isbn",
            schema=models.SchemaDefinitionCreateSchema.from_dict(
                {
                    "type": "object",
                    "properties": {"isbn": {"type": "string"}, "title": {"type": "string"}},
                    "required": ["isbn", "title"],
                }
            ),
        ),
    )
    book = _ok(created).data
    assert (book.name, book.category.value, book.version_number) == ("Book", "custom_schema", 1)
    updated = schemas.update_schema_definition.sync_detailed(
        "Book", client=client, body=models.SchemaDefinitionUpdate(description="On the shelf")
    )
    assert _ok(updated).data.version_number == 2
    # A built-in schema's update: its category is not custom_schema, and none is sent.
    builtin = schemas.update_schema_definition.sync_detailed(
        "customers", client=client, body=models.SchemaDefinitionUpdate(description="Ours")
    )
    assert _ok(builtin).data.category.value == "contacts_schema"

    # Typed resource operations on a built-in schema.
    def person(customer_id: str, **fields: Any) -> Any:
        return models.CustomersCreateData(
            customer_id=customer_id,
            first_name="Ada",
            last_name="Lovelace",
            created_at=CREATED,
            **fields,
        )

    first = typed.create_resource_customers.sync_detailed(
        client=client,
        body=models.CreateResourceCustomersBody(data=person("c-1", sms_opt_out=False)),
        **tenant,
    )
    assert _ok(first).data.resource_external_id == "c-1"
    # An upsert that leaves smsOptOut out leaves it as stored (no default is sent for it).
    again = typed.create_resource_customers.sync_detailed(
        client=client, body=models.CreateResourceCustomersBody(data=person("c-1")), **tenant
    )
    assert _ok(again).data.data.sms_opt_out is False
    patched = typed.patch_resource_customers.sync_detailed(
        "c-1",
        client=client,
        body=models.PatchResourceCustomersBody(
            data=models.CustomersPartialData(first_name="Grace")
        ),
        **tenant,
    )
    assert _ok(patched).data.result.data.first_name == "Grace"
    got = typed.get_resource_customers.sync_detailed("c-1", client=client, **tenant)
    record = _ok(got).data.result
    assert (record.data.first_name, record.data.last_name, record.data.sms_opt_out) == (
        "Grace",
        "Lovelace",
        False,
    )
    listed = typed.list_resources_customers.sync_detailed(client=client, **tenant)
    assert [r.resource_external_id for r in _ok(listed).data.results] == ["c-1"]

    # The generic operations, on the custom schema.
    generic_made = generic.create_resource.sync_detailed(
        "Book",
        client=client,
        body=models.CreateResourceBody(
            data=models.CreateResourceBodyData.from_dict({"isbn": "978-0", "title": "Dune"})
        ),
        **tenant,
    )
    assert _ok(generic_made).data.resource_external_id == "978-0"
    generic_got = generic.get_resource.sync_detailed("Books", "978-0", client=client, **tenant)
    assert _ok(generic_got).data.result.data["title"] == "Dune"

    # A batch, submitted and polled until done.
    submitted = typed.batch_upload_resources_customers.sync_detailed(
        client=client,
        body=models.BatchUploadResourcesCustomersBody(
            resources=[person(f"b-{n}") for n in range(3)]
        ),
        **tenant,
    )
    batch_id = str(_ok(submitted, 202).data.batch_id)
    deadline = time.monotonic() + 30
    while True:
        status = _ok(batches.get_batch.sync_detailed(batch_id, client=client, **tenant)).data
        if status.status.value in ("success", "partial_success", "failed"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert (status.status.value, status.progress.successful_records) == ("success", 3)

    # Deletes: a record, then the custom schema once it holds no records.
    removed = typed.delete_resource_customers.sync_detailed("c-1", client=client, **tenant)
    assert _ok(removed).data.resource_external_id == "c-1"
    gone = typed.get_resource_customers.sync_detailed("c-1", client=client, **tenant)
    assert gone.status_code == 404
    assert isinstance(gone.parsed, models.NotFoundError)
    in_use = schemas.delete_schema_definition.sync_detailed("Book", client=client)
    assert in_use.status_code == 409
    assert (
        generic.delete_resource.sync_detailed("Book", "978-0", client=client, **tenant).status_code
        == 200
    )
    deleted = schemas.delete_schema_definition.sync_detailed("Book", client=client)
    assert _ok(deleted).data.deactivated_at is not None


def _defaults(node: Any, components: dict[str, Any], path: str, seen: frozenset[str]) -> list[str]:
    """Paths of every ``default`` in a schema, following ``$ref``s (each once per branch)."""
    if isinstance(node, list):
        return [
            found
            for i, item in enumerate(node)
            for found in _defaults(item, components, f"{path}[{i}]", seen)
        ]
    if not isinstance(node, dict):
        return []
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name in seen:
            return []
        return _defaults(components[name], components, f"{path}->{name}", seen | {name})
    found = [path] if "default" in node else []
    for key, value in node.items():
        if key not in ("default", "example", "description"):
            found += _defaults(value, components, f"{path}.{key}", seen)
    return found


def test_no_request_body_declares_a_default(api: Harness, partner: PartnerKey) -> None:
    """Generators send a body field's ``default`` whenever the caller leaves it out: on an
    update (or an upsert that merges) that overwrites what is stored, or changes what cannot
    change (a built-in schema's category)."""
    custom = api.client.post(
        "/partner/schema-definitions",
        json={
            "name": f"gadget_{uuid.uuid4().hex[:8]}",
            "externalIdField": "sku",
            "schema": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string"},
                    "units": {"type": "integer", "default": 1},
                    "size": {"type": "object", "properties": {"w": {"default": 0}}},
                },
                "required": ["sku"],
            },
        },
        headers=api.partner_headers(partner),
    )
    assert custom.status_code == 200, custom.text
    document = api.client.get("/openapi.json", headers=api.partner_headers(partner)).json()
    components = document["components"]["schemas"]
    bodies = 0
    found: list[str] = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body is None or method == "delete":
                # A batch delete's flags default to false, which is what leaving them out
                # means: sending the default changes nothing there.
                continue
            bodies += 1
            for media, content in body["content"].items():
                found += _defaults(
                    content.get("schema"), components, f"{method} {path} {media}", frozenset()
                )
    assert bodies > 20
    assert found == [], "\n".join(found)
    units = components[f"{custom.json()['data']['name']}.CreateData"]["properties"]["units"]
    assert "Default when a record is created: 1" in units["description"]
