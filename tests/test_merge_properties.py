"""Property: any sequence of JSON merge patches applied through the API gives exactly what
applying ``reach.domain.documents.merge_patch`` in order to a plain dict gives.

The schema has nested objects (declared ones and a free-form one), so patches add, replace and
remove fields at several depths, and create objects where there were none. The examples are
derandomized: both engines get the same sequences and each is compared with the same
pure-Python model, so SQLite and PostgreSQL agree with each other too.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reach.domain.documents import merge_patch
from tests.harness import Harness, PartnerKey

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
SCALAR = st.one_of(
    TEXT,
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), value)  # None removes the field


def _patch_of(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={k: _maybe(v) for k, v in fields.items()})


GEO = _patch_of({"lat": st.floats(-90, 90), "lng": st.floats(-180, 180)})
ADDRESS = _patch_of({"street": TEXT, "city": TEXT, "geo": GEO})
FREE_FORM = st.recursive(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), _maybe(SCALAR), max_size=3),
    lambda inner: st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]), _maybe(st.one_of(SCALAR, inner)), max_size=3
    ),
    max_leaves=8,
)
PATCH = _patch_of(
    {
        "name": TEXT,
        "count": st.integers(min_value=-(2**31), max_value=2**31),
        "tags": st.lists(TEXT, max_size=3),
        "address": ADDRESS,
        "prefs": FREE_FORM,
    }
)

SCHEMA = {
    "type": "object",
    "properties": {
        "profileId": {"type": "string"},
        "name": {"type": "string"},
        "count": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "type": "object",
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "geo": {
                    "type": "object",
                    "properties": {"lat": {"type": "number"}, "lng": {"type": "number"}},
                },
            },
        },
        "prefs": {"type": "object", "additionalProperties": True},
    },
    "required": ["profileId"],
}


def _define_schema(api: Harness, partner: PartnerKey) -> str:
    name = f"profile{uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "pluralName": f"{name}s",
        "category": "custom_schema",
        "externalIdField": "profileId",
        "schema": SCHEMA,
    }
    made = api.client.post(
        "/partner/schema-definitions", json=body, headers=api.partner_headers(partner)
    )
    assert made.status_code == 200, made.text
    return name


def test_any_patch_sequence_equals_the_merge_patch_model(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    schema = _define_schema(api, partner)
    headers = api.tenant_headers(partner, tenant)

    @settings(
        max_examples=40,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(patches=st.lists(PATCH, min_size=1, max_size=5))
    def check(patches: list[dict[str, Any]]) -> None:
        key = f"p-{uuid.uuid4().hex}"
        model: Any = {"profileId": key}
        created = api.client.post(f"/api/resources/{schema}", json={"data": model}, headers=headers)
        assert created.status_code == 200, created.text
        for patch in patches:
            model = merge_patch(model, patch)
            response = api.client.patch(
                f"/api/resources/{schema}/{key}", json={"data": patch}, headers=headers
            )
            assert response.status_code == 200, (patch, response.text)
            assert response.json()["data"]["result"]["data"] == model, patch
        stored = api.client.get(f"/api/resources/{schema}/{key}", headers=headers)
        assert stored.json()["data"]["result"]["data"] == model

    check()
