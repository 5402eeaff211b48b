"""Every table could be distributed by tenant: the audit of docs/scaling.md, kept true.

A PostgreSQL distributed by ``tenant_id`` (Citus-style) enforces a primary key or unique index
on one shard, so each must contain ``tenant_id``; a foreign key between two distributed tables
must carry it on both sides, and a small replicated reference table may not point at a
distributed one. A partner-level table too large to replicate is distributed by ``partner_id``
instead, colocated with nothing tenant-owned: ``partner_id`` is in each of its keys, it refers
only to reference tables, and nothing refers to it. The rule is judged three times: on the
models (``storage/tables.py``) and on a database migrated to head on each engine (the drift
check does not compare primary keys).
It is generic: a table added later is judged the moment it exists, by the same rule.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from reach.storage import migrate
from reach.storage.tables import metadata

TENANT = "tenant_id"
PARTNER = "partner_id"

# Partner-level tables with no tenant of their own: replicated whole to every node of a
# distributed PostgreSQL. Each must stay small (it is copied to every shard host and every
# write to it goes to all of them) and must be read by a tenant's queries only by key.
REFERENCE_TABLES = {
    "partners": "one row per partner; read on every request's authentication",
    "partner_secrets": "a few signing secrets per partner",
    "tenants": (
        "the tenant directory: a token names its tenant by (partner, external id), found before "
        "any tenant-owned row is touched, and that key has no tenant id to route by; one row "
        "per tenant, small next to the tenant's data, and the write guard reads it with every "
        "resource write"
    ),
    "schema_definitions": "a partner's schemas (tens per partner), shared by all its tenants",
    "schema_mappings": "one mapping per partner",
    "webhook_endpoints": "a partner's webhook endpoints, a handful per partner",
}

# Partner-level tables too large to copy to every node: distributed by partner_id.
PARTNER_TABLES = {
    "webhook_deliveries": (
        "the partner-level delivery outbox (a partner's endpoint, events of any of its tenants "
        "or none), as large as the partner's event traffic; keyed by partner since migration 0014"
    ),
}

# Kept on the coordinator only, never distributed.
LOCAL_TABLES = {
    "alembic_version": "the migration bookkeeping",
    "sequences": "SQLite's seq high-water marks of 0013, unused since 0016/0017; empty",
    "event_stamp": (
        "one row: the last commit-ordered event position given; every stamper takes turns on "
        "it, so on a distributed PostgreSQL it lives on the coordinator (docs/scaling.md)"
    ),
    "webhook_dispatch": "the webhook dispatcher's cursor in the event log, one row",
}

# SQLite is never distributed: there these tables keep ``seq`` as the rowid and primary key
# alone (migrations 0017 and 0016: one index less per insert). Their unique keys still carry
# the tenant; PostgreSQL's primary keys are judged in full.
SQLITE_ROWID_KEYS = {"resources", "batches", "events"}

# Tables the rule does not fit yet, each with the plan that will make it fit. Listed, so a new
# table cannot slip in unnoticed, and so the gap is a decision rather than an accident.
KNOWN_GAPS: dict[str, str] = {}


@dataclass
class Shape:
    """What the rule looks at in one table, from the models or from a live database."""

    name: str
    columns: set[str]
    primary_key: list[str]
    uniques: dict[str, list[str]] = field(default_factory=dict)
    foreign_keys: list[tuple[list[str], str, list[str]]] = field(default_factory=list)


def problems(shapes: list[Shape]) -> list[str]:
    """Every breach of the rule, one line each (empty: the schema can be distributed)."""
    found: list[str] = []
    by_partner = PARTNER_TABLES.keys()
    owned = {s.name for s in shapes if TENANT in s.columns and s.name not in by_partner}
    exempt = REFERENCE_TABLES.keys() | LOCAL_TABLES.keys()
    shapes = [s for s in shapes if s.name not in KNOWN_GAPS]
    for shape in sorted(shapes, key=lambda s: s.name):
        name = shape.name
        if name in exempt:
            if TENANT in shape.columns:
                found.append(f"{name}: has {TENANT} but is allow-listed as not tenant-owned")
            for _, target, _ in shape.foreign_keys:
                if target in owned:
                    found.append(f"{name}: a reference table refers to tenant-owned {target}")
                elif target in by_partner:
                    found.append(f"{name}: a reference table refers to partner-keyed {target}")
            continue
        if name in by_partner:
            found.extend(_partner_problems(shape, owned))
            continue
        if name not in owned:
            found.append(f"{name}: no {TENANT} column and not an allow-listed reference table")
            continue
        if TENANT not in shape.primary_key:
            found.append(f"{name}: primary key {shape.primary_key} lacks {TENANT}")
        for index, columns in sorted(shape.uniques.items()):
            if TENANT not in columns:
                found.append(f"{name}: unique {index} {columns} lacks {TENANT}")
        for columns, target, referred in shape.foreign_keys:
            if target in by_partner:
                found.append(f"{name}: foreign key {columns} → partner-keyed {target}")
            if target not in owned:
                continue  # a distributed table may refer to a reference table by any key
            pairs = dict(zip(columns, referred, strict=True))
            if pairs.get(TENANT) != TENANT:
                found.append(
                    f"{name}: foreign key {columns} → {target} does not match {TENANT} to {TENANT}"
                )
    present = {s.name for s in shapes}
    found.extend(
        f"{name}: allow-listed but no such table"
        for name in [*REFERENCE_TABLES, *PARTNER_TABLES]
        if name not in present
    )
    return found


def _partner_problems(shape: Shape, owned: set[str]) -> list[str]:
    """A table distributed by partner: the partner in every key, and colocated with nothing
    (it may refer to reference tables only)."""
    name, found = shape.name, []
    if PARTNER not in shape.columns:
        return [f"{name}: allow-listed as keyed by {PARTNER} but has no such column"]
    if PARTNER not in shape.primary_key:
        found.append(f"{name}: primary key {shape.primary_key} lacks {PARTNER}")
    for index, columns in sorted(shape.uniques.items()):
        if PARTNER not in columns:
            found.append(f"{name}: unique {index} {columns} lacks {PARTNER}")
    for columns, target, _ in shape.foreign_keys:
        if target in owned or target in PARTNER_TABLES:
            found.append(f"{name}: foreign key {columns} → {target}, which is not replicated")
    return found


def _label(name: object, columns: list[str]) -> str:
    """A unique index's name, or its columns when it has none (SQLite's inline UNIQUE)."""
    return name if isinstance(name, str) else f"({', '.join(columns)})"


def shapes_of_models(meta: sa.MetaData = metadata) -> list[Shape]:
    shapes = []
    for table in meta.sorted_tables:
        uniques = {
            _label(c.name, [col.name for col in c.columns]): [col.name for col in c.columns]
            for c in [*table.constraints, *table.indexes]
            if isinstance(c, sa.UniqueConstraint) or (isinstance(c, sa.Index) and c.unique)
        }
        shapes.append(
            Shape(
                table.name,
                {c.name for c in table.columns},
                [c.name for c in table.primary_key.columns],
                uniques,
                [
                    (
                        [e.parent.name for e in fk.elements],
                        fk.referred_table.name,
                        [e.column.name for e in fk.elements],
                    )
                    for fk in table.foreign_key_constraints
                ],
            )
        )
    return shapes


def shapes_of_database(conn: sa.Connection) -> list[Shape]:
    inspector = sa.inspect(conn)
    shapes = []
    for name in inspector.get_table_names():
        uniques = {
            _label(u["name"], u["column_names"]): list(u["column_names"])
            for u in [*inspector.get_unique_constraints(name), *inspector.get_indexes(name)]
            if u.get("unique", True)
        }
        shapes.append(
            Shape(
                name,
                {c["name"] for c in inspector.get_columns(name)},
                list(inspector.get_pk_constraint(name)["constrained_columns"]),
                uniques,
                [
                    (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                    for fk in inspector.get_foreign_keys(name)
                ],
            )
        )
    return shapes


def test_the_models_can_be_distributed_by_tenant() -> None:
    assert problems(shapes_of_models()) == []


def test_a_sqlite_database_migrated_to_head_can_be_distributed_by_tenant(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    migrate.upgrade(url)
    engine = sa.create_engine(migrate.sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            shapes = shapes_of_database(conn)
    finally:
        engine.dispose()
    assert {s.name for s in shapes} >= set(metadata.tables)
    rowid_keyed = {s.name for s in shapes if s.primary_key == ["seq"]}
    assert rowid_keyed == SQLITE_ROWID_KEYS
    for shape in shapes:
        if shape.name in rowid_keyed:
            shape.primary_key = [TENANT, "seq"]  # judged as on PostgreSQL, where it is
    assert problems(shapes) == []


def test_a_postgresql_database_migrated_to_head_can_be_distributed_by_tenant(
    scratch_postgres: str,
) -> None:
    migrate.upgrade(scratch_postgres)

    async def inspect() -> list[Shape]:
        engine = create_async_engine(migrate.sqlalchemy_url(scratch_postgres))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(shapes_of_database)
        finally:
            await engine.dispose()

    shapes = asyncio.run(inspect())
    # Every table but those only SQLite's migrations make (``tables.SQLITE_ONLY``).
    expected = {n for n, t in metadata.tables.items() if t.info.get("dialect") != "sqlite"}
    assert {s.name for s in shapes} >= expected
    assert problems(shapes) == []


def test_the_rule_names_each_breach() -> None:
    """The checker can fail: tables that break the rule in each way it knows are each named."""
    bad = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(bad)
    sa.Table(
        "audit_trail",  # tenant-owned, but keyed globally
        bad,
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("id", sa.Text(), nullable=False, unique=True),
        sa.Column(TENANT, sa.Text(), nullable=False),
        sa.Column("segment_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["segment_id"], ["segments.id"]),
        sa.Index("uq_events_kind", "id", "seq", unique=True),
    )
    sa.Table(  # partner-level, but not declared a reference table
        "partner_hooks",
        bad,
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("partner_id", sa.Text(), nullable=False),
    )
    bad.tables["schema_mappings"].append_constraint(
        sa.ForeignKeyConstraint(["partner_id"], ["resources.id"])
    )
    assert problems(shapes_of_models(bad)) == [
        "audit_trail: primary key ['seq'] lacks tenant_id",
        "audit_trail: unique (id) ['id'] lacks tenant_id",
        "audit_trail: unique uq_events_kind ['id', 'seq'] lacks tenant_id",
        "audit_trail: foreign key ['segment_id'] → segments does not match tenant_id to tenant_id",
        "partner_hooks: no tenant_id column and not an allow-listed reference table",
        "schema_mappings: a reference table refers to tenant-owned resources",
    ]


def test_the_rule_accepts_tenant_first_keys() -> None:
    good = Shape(
        "audit_trail",
        {TENANT, "id", "segment_id"},
        [TENANT, "id"],
        {"uq_audit_trail_id": ["id", TENANT]},
        [([TENANT, "segment_id"], "segments", [TENANT, "id"])],
    )
    assert problems([*shapes_of_models(), good]) == []


def test_the_partner_rule_names_each_breach() -> None:
    """A partner-keyed table is judged by its own rule: the outbox as it was before migration
    0014 (keyed by id alone) fails it, and so does one pointing at a tenant-owned table."""
    before = [s for s in shapes_of_models() if s.name != "webhook_deliveries"]
    before.append(
        Shape(
            "webhook_deliveries",
            {"id", PARTNER, TENANT, "endpoint_id", "event_id"},
            ["id"],
            {"uq_webhook_deliveries_endpoint_event": ["endpoint_id", "event_id"]},
            [
                (["endpoint_id"], "webhook_endpoints", ["id"]),
                (["tenant_id", "event_id"], "events", ["tenant_id", "id"]),
            ],
        )
    )
    assert problems(before) == [
        "webhook_deliveries: primary key ['id'] lacks partner_id",
        "webhook_deliveries: unique uq_webhook_deliveries_endpoint_event "
        "['endpoint_id', 'event_id'] lacks partner_id",
        "webhook_deliveries: foreign key ['tenant_id', 'event_id'] → events, which is not "
        "replicated",
    ]
