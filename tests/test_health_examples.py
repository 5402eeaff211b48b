"""The served OpenAPI document shows for ``/healthz`` and ``/readyz`` what they really return:
its examples equal live responses, and their schemas accept them and nothing extra."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from tests.harness import Harness


def _schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    ref = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]["$ref"]
    schema: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def test_health_examples_are_what_the_endpoints_return(api: Harness) -> None:
    document = api.client.get("/openapi.json").json()
    live = api.client.get("/healthz").json()
    ready = api.client.get("/readyz").json()

    liveness = _schema(document, "/healthz")
    assert liveness["example"] == live
    readiness = _schema(document, "/readyz")
    assert readiness["example"] == ready | {"data": ready["data"] | {"database": "sqlite"}}

    for schema, body in ((liveness, live), (readiness, ready)):
        assert jsonschema_rs.validator_for(schema).is_valid(body)
    # What each one never sends is not in its schema.
    assert "database" not in liveness["properties"]["data"]["properties"]
    assert readiness["properties"]["data"]["properties"]["status"]["enum"] == ["ready"]
