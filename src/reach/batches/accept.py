"""Accepting a batch: request-level checks (400s), then the batch row and every item stored in
the caller's transaction — committed before the 202 is sent, so nothing accepted is lost.

Per-item problems (validation, unknown fields, missing dependencies, conflicts) are not
checked here: the worker records them per item, and the other items still apply.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from reach import clock
from reach.batches import deletion
from reach.batches.model import DELETE, MAX_ITEMS, Options, Reason
from reach.domain.compiled import json_type
from reach.domain.resources import MAX_EXTERNAL_ID_LENGTH, Scope, check_external_id
from reach.errors import BadRequest
from reach.flags import parse_flag
from reach.storage import batches as store

_DRY_RUN_CHUNK = 1000
_NUL = b"\\u0000"  # how orjson writes U+0000, which PostgreSQL's jsonb cannot store


class Accepted(msgspec.Struct, frozen=True):
    batch_id: str
    record_count: int
    schema_id: str


class DeleteRequest(msgspec.Struct, frozen=True):
    external_ids: list[str]
    cascade: bool
    delete_all: bool
    dry_run: bool


def resources_of(body: Any, *, ignore_unknown: bool) -> list[Any]:
    """The ``resources`` array of an upload or patch body."""
    if not isinstance(body, dict):
        raise BadRequest(
            "Validation failed", errors=[f"body: expected object, got {json_type(body)}"]
        )
    errors = (
        [] if ignore_unknown else [f"{key}: unknown field" for key in body if key != "resources"]
    )
    items = body.get("resources")
    if items is None:
        errors.insert(0, "resources: required field missing")
    elif not isinstance(items, list):
        errors.insert(0, f"resources: expected array, got {json_type(items)}")
    elif not items:
        errors.insert(0, "resources: must contain at least one resource")
    elif len(items) > MAX_ITEMS:
        errors.insert(0, f"resources: at most {MAX_ITEMS} resources per batch, got {len(items)}")
    if errors or not isinstance(items, list):
        raise BadRequest(errors[0].split(": ", 1)[1].capitalize(), errors=errors)
    return items


async def accept_writes(
    scope: Scope, batch_type: str, items: list[Any], options: Options
) -> Accepted:
    batch_id = clock.new_id()
    at = clock.now()
    key_field = scope.schema.external_id_field
    rows: list[tuple[int, str | None, str | None]] = []
    unstorable: list[tuple[int, str | None, str, str]] = []
    for position, item in enumerate(items):
        external_id = item.get(key_field) if isinstance(item, dict) else None
        if not _displayable(external_id):
            external_id = None
        try:
            payload = orjson.dumps(item)
        except orjson.JSONEncodeError:
            # Parsed (JSON allows deeper nesting) but too deep to store: this item fails.
            unstorable.append(_unstorable(position, external_id, "data: nested too deeply"))
            continue
        if _NUL in payload:
            # Refused per item, as the single-record write refuses it: no engine stores it alike.
            unstorable.append(
                _unstorable(
                    position, external_id, "data: must not contain the NUL character (U+0000)"
                )
            )
            continue
        rows.append((position, external_id, payload.decode()))
    await store.insert(
        scope.conn,
        {
            "id": batch_id,
            "partner_id": scope.tenant.partner_id,
            "tenant_id": scope.tenant.id,
            "schema_id": scope.schema.id,
            "schema_name": scope.schema.name,
            "batch_type": batch_type,
            "options": msgspec.json.encode(_submitted(scope, options)).decode(),
            "state": "{}",
            "total_records": len(items),
            "created_at": at,
        },
    )
    await store.insert_items(scope.conn, batch_id, scope.tenant.id, rows)
    if unstorable:
        await store.insert_failures(scope.conn, batch_id, scope.tenant.id, unstorable)
        n = len(unstorable)
        await store.add_progress(
            scope.conn,
            store.BatchRef(scope.tenant.id, batch_id),
            processed=n,
            successful=0,
            failed=n,
            pending=0,
            cascaded=0,
        )
    return Accepted(batch_id=batch_id, record_count=len(items), schema_id=scope.schema.id)


def _unstorable(
    position: int, external_id: str | None, error: str
) -> tuple[int, str | None, str, str]:
    return (position, external_id, Reason.VALIDATION_FAILED, orjson.dumps([error]).decode())


def _displayable(value: Any) -> bool:
    return (
        isinstance(value, str) and 0 < len(value) <= MAX_EXTERNAL_ID_LENGTH and "\x00" not in value
    )


_DELETE_FIELDS = ("externalIds", "cascade", "deleteAll", "dryRun")


def delete_request(body: Any) -> DeleteRequest:
    if not isinstance(body, dict):
        raise BadRequest(
            "Validation failed", errors=[f"body: expected object, got {json_type(body)}"]
        )
    errors = [f"{key}: unknown field" for key in body if key not in _DELETE_FIELDS]
    flags = {}
    for name in ("cascade", "deleteAll", "dryRun"):
        try:
            flags[name] = parse_flag(body.get(name), name)
        except BadRequest as exc:
            errors.extend(exc.errors or [])
    raw_ids = body.get("externalIds")
    ids: list[str] = []
    if raw_ids is not None and not isinstance(raw_ids, list):
        errors.append(f"externalIds: expected array, got {json_type(raw_ids)}")
    elif raw_ids:
        if len(raw_ids) > MAX_ITEMS:
            errors.append(f"externalIds: at most {MAX_ITEMS} per batch, got {len(raw_ids)}")
        else:
            for index, value in enumerate(raw_ids):
                try:
                    ids.append(check_external_id(value, f"externalIds[{index}]"))
                except BadRequest as exc:
                    errors.extend(exc.errors or [])
    if not errors:
        if flags["deleteAll"] and raw_ids:
            errors.append("externalIds: must be empty when deleteAll is true")
        elif not flags["deleteAll"] and not raw_ids:
            errors.append("externalIds: required (non-empty) unless deleteAll is true")
    if errors:
        raise BadRequest("Invalid batch delete request", errors=errors)
    return DeleteRequest(
        external_ids=list(dict.fromkeys(ids)),  # a record is deleted once, however often named
        cascade=flags["cascade"],
        delete_all=flags["deleteAll"],
        dry_run=flags["dryRun"],
    )


async def accept_delete(scope: Scope, request: DeleteRequest) -> Accepted:
    batch_id = clock.new_id()
    at = clock.now()
    state: dict[str, Any] = {}
    total = len(request.external_ids)
    if request.delete_all:
        # Walk the records that exist now; records created after acceptance are not touched.
        state = {"after": 0, "until": await scope.rows.max_seq(scope.schema.id), "next": 0}
        total = await scope.rows.count(scope.schema.id, [])
    options = Options(cascade=request.cascade, delete_all=request.delete_all)
    await store.insert(
        scope.conn,
        {
            "id": batch_id,
            "partner_id": scope.tenant.partner_id,
            "tenant_id": scope.tenant.id,
            "schema_id": scope.schema.id,
            "schema_name": scope.schema.name,
            "batch_type": DELETE,
            "options": msgspec.json.encode(_submitted(scope, options)).decode(),
            "state": orjson.dumps(state).decode(),
            "total_records": total,
            "created_at": at,
        },
    )
    await store.insert_items(
        scope.conn,
        batch_id,
        scope.tenant.id,
        [(position, key, None) for position, key in enumerate(request.external_ids)],
    )
    return Accepted(batch_id=batch_id, record_count=total, schema_id=scope.schema.id)


async def preview_delete(scope: Scope, request: DeleteRequest) -> dict[str, Any]:
    """``dryRun``: what the delete would do, computed by the worker's own planner; nothing is
    queued or changed."""
    preview = deletion.Preview(scope.schema.name)
    if request.delete_all:
        after = 0
        until = await scope.rows.max_seq(scope.schema.id)
        requested = 0
        while True:
            rows = await scope.rows.page_between(
                scope.schema.id,
                after_seq=after,
                until_seq=until,
                limit=_DRY_RUN_CHUNK,
                for_update=False,
            )
            if not rows:
                break
            after = int(rows[-1]["seq"])
            fresh = [r for r in rows if int(r["seq"]) not in preview.counted]
            requested += len(rows)
            targets = [deletion.Target(0, r["external_id"], r) for r in fresh]
            preview.add(
                await deletion.plan(
                    scope, targets, cascade=request.cascade, delete_all=True, taken=preview.counted
                )
            )
    else:
        requested = len(request.external_ids)
        rows = await scope.rows.load_many(scope.schema.id, request.external_ids)
        by_key = {row["external_id"]: row for row in rows}
        targets = [
            deletion.Target(i, key, by_key.get(key)) for i, key in enumerate(request.external_ids)
        ]
        preview.add(await deletion.plan(scope, targets, cascade=request.cascade, delete_all=False))
    return {
        "dryRun": True,
        "schemaDefinitionId": scope.schema.id,
        "schemaName": scope.schema.name,
        "recordCount": requested,
        "cascade": request.cascade,
        "deleteAll": request.delete_all,
        **preview.wire(),
    }


def _submitted(scope: Scope, options: Options) -> Options:
    """The options with who submitted them, which the items' change events name."""
    if scope.events is None:
        return options
    actor = scope.events.actor
    return msgspec.structs.replace(
        options, tenant_token=actor.tenant_token, request_id=actor.request_id
    )
