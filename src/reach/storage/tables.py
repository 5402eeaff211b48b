"""The database schema as SQLAlchemy Core metadata — used for DDL and drift checks only.

Queries are hand-written SQL (see the sibling modules); no ORM sits on the request path.
Portable column types: ids are UUIDs in PostgreSQL and 36-character text in SQLite; timestamps
are ``timestamptz`` in PostgreSQL and RFC 3339 text (``2026-01-02T03:04:05.678Z``, which sorts
correctly) in SQLite; documents are ``jsonb`` in PostgreSQL and JSON text in SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

UUID = sa.String(36).with_variant(postgresql.UUID(as_uuid=False), "postgresql")
TIMESTAMP = sa.Text().with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
JSONDOC = sa.Text().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# ``info`` of a column or table that only SQLite's migrations create (the drift check expects
# it there only, as it expects an ``Index.ddl_if`` index only on its engine).
SQLITE_ONLY = {"dialect": "sqlite"}

partners = sa.Table(
    "partners",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
)

partner_secrets = sa.Table(
    "partner_secrets",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("partner_id", UUID, sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False),
    # AES-GCM ciphertext (reach.secretbox), never the secret itself (migration 0003).
    sa.Column("sealed_secret", sa.Text(), nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("revoked_at", TIMESTAMP, nullable=True),
    sa.Index("ix_partner_secrets_partner_id", "partner_id"),
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("partner_id", UUID, sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False),
    sa.Column("external_id", sa.Text(), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("website", sa.Text(), nullable=True),
    sa.Column("attributes", JSONDOC, nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
    sa.Column("deleted_at", TIMESTAMP, nullable=True),
    # When external_id last changed (NULL: never since creation). A tenant token minted before
    # it names whichever tenant held the external id then, so it is refused (migration 0005).
    sa.Column("external_id_changed_at", TIMESTAMP, nullable=True),
    sa.UniqueConstraint("partner_id", "external_id", name="uq_tenants_partner_external_id"),
)

schema_definitions = sa.Table(
    "schema_definitions",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("partner_id", UUID, sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("name_key", sa.Text(), nullable=False),
    sa.Column("plural_name", sa.Text(), nullable=False),
    sa.Column("plural_key", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("category", sa.Text(), nullable=False),
    sa.Column("external_id_field", sa.Text(), nullable=False),
    sa.Column("json_schema", JSONDOC, nullable=False),
    sa.Column("options", JSONDOC, nullable=False),
    sa.Column("version_number", sa.Integer(), nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
    sa.Column("deactivated_at", TIMESTAMP, nullable=True),
    # Unique among active definitions only: a deactivated schema's names are free (0006).
    sa.Index(
        "uq_schema_definitions_name",
        "partner_id",
        "name_key",
        unique=True,
        sqlite_where=sa.text("deactivated_at IS NULL"),
        postgresql_where=sa.text("deactivated_at IS NULL"),
    ),
    sa.Index(
        "uq_schema_definitions_plural",
        "partner_id",
        "plural_key",
        unique=True,
        sqlite_where=sa.text("deactivated_at IS NULL"),
        postgresql_where=sa.text("deactivated_at IS NULL"),
    ),
)

# Tenant-owned tables carry ``tenant_id`` in their primary key and in every unique index, so a
# PostgreSQL distributed by tenant (docs/scaling.md) can enforce each of them on one shard
# (migration 0012; tests/test_shard_keys.py holds every table to it).
resources = sa.Table(
    "resources",
    metadata,
    # PostgreSQL draws it from a sequence (never reused). SQLite, never distributed, keeps it
    # as the AUTOINCREMENT rowid and the primary key alone (migration 0017): an index less on
    # every insert; the tenant stays in the unique keys.
    sa.Column("seq", SEQ, nullable=False, autoincrement=True),
    sa.Column("id", UUID, nullable=False),
    sa.Column("tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "schema_id",
        UUID,
        sa.ForeignKey("schema_definitions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("external_id", sa.Text(), nullable=False),
    sa.Column("data", JSONDOC, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
    # SQLite only (migration 0020): the ``seq`` of the record's newest change event, the head
    # of its history chain (``events.prev``), set by the event's insert. PostgreSQL keeps the
    # history index instead and has no such column.
    sa.Column("last_event", sa.BigInteger(), nullable=True, info=SQLITE_ONLY),
    sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_resources"),
    sa.UniqueConstraint("tenant_id", "id", name="uq_resources_id"),
    sa.UniqueConstraint("tenant_id", "schema_id", "external_id", name="uq_resources_key"),
    sa.Index("ix_resources_listing", "tenant_id", "schema_id", "seq"),
)

# Batches (issue 4): one row per accepted batch job, one row per item. The worker's claim
# (``claimed_by``/``lease_until``) and its next look (``wake_at``: NULL once complete) live on
# the batch row; ``state`` holds a delete-all batch's resume point.
batches = sa.Table(
    "batches",
    metadata,
    sa.Column("seq", SEQ, nullable=False, autoincrement=True),  # as resources.seq
    sa.Column("id", UUID, nullable=False),
    sa.Column("partner_id", UUID, sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "schema_id",
        UUID,
        sa.ForeignKey("schema_definitions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("schema_name", sa.Text(), nullable=False),
    sa.Column("batch_type", sa.Text(), nullable=False),
    sa.Column("status", sa.Text(), nullable=False),
    sa.Column("options", JSONDOC, nullable=False),
    sa.Column("state", JSONDOC, nullable=False),
    sa.Column("total_records", sa.Integer(), nullable=False),
    sa.Column("processed_records", sa.Integer(), nullable=False),
    sa.Column("successful_records", sa.Integer(), nullable=False),
    sa.Column("failed_records", sa.Integer(), nullable=False),
    sa.Column("pending_records", sa.Integer(), nullable=False),
    sa.Column("cascaded_records", sa.Integer(), nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("started_at", TIMESTAMP, nullable=True),
    sa.Column("completed_at", TIMESTAMP, nullable=True),
    sa.Column("wake_at", TIMESTAMP, nullable=True),
    sa.Column("claimed_by", sa.Text(), nullable=True),
    sa.Column("lease_until", TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_batches"),
    # The id leads: the worker addresses its claimed batch by id (and its items by batch id).
    sa.UniqueConstraint("id", "tenant_id", name="uq_batches_id"),
    sa.Index("ix_batches_wake", "wake_at"),
)

batch_items = sa.Table(
    "batch_items",
    metadata,
    sa.Column("batch_id", UUID, nullable=False),
    sa.Column("position", sa.Integer(), nullable=False, autoincrement=False),
    sa.Column("tenant_id", UUID, nullable=False),
    sa.Column("external_id", sa.Text(), nullable=True),
    sa.Column("payload", JSONDOC, nullable=True),
    sa.Column("status", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("errors", JSONDOC, nullable=True),
    sa.Column("missing", JSONDOC, nullable=True),
    sa.Column("pending_at", TIMESTAMP, nullable=True),
    sa.Column("expires_at", TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint("batch_id", "position", "tenant_id", name="pk_batch_items"),
    sa.ForeignKeyConstraint(
        ["batch_id", "tenant_id"],
        ["batches.id", "batches.tenant_id"],
        name="fk_batch_items_batch",
        ondelete="CASCADE",
    ),
)

# One row per (pending item, dependency it waits for): the worker wakes a batch as soon as a
# record matching one of its rows exists, whichever path created it.
batch_waits = sa.Table(
    "batch_waits",
    metadata,
    sa.Column("batch_id", UUID, nullable=False),
    sa.Column("position", sa.Integer(), nullable=False, autoincrement=False),
    sa.Column("schema_id", UUID, nullable=False),
    sa.Column("external_id", sa.Text(), nullable=False),
    sa.Column("tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    sa.PrimaryKeyConstraint(
        "batch_id", "position", "schema_id", "external_id", "tenant_id", name="pk_batch_waits"
    ),
    sa.ForeignKeyConstraint(
        ["batch_id", "tenant_id"],
        ["batches.id", "batches.tenant_id"],
        name="fk_batch_waits_batch",
        ondelete="CASCADE",
    ),
)

resource_counts = sa.Table(
    "resource_counts",
    metadata,
    sa.Column("tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "schema_id",
        UUID,
        sa.ForeignKey("schema_definitions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("slot", sa.SmallInteger(), nullable=False),
    sa.Column("count", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "schema_id", "slot", name="pk_resource_counts"),
)

# Issue 15. A partner's schema mapping (absent: the default one, derived from its schemas).
schema_mappings = sa.Table(
    "schema_mappings",
    metadata,
    sa.Column(
        "partner_id", UUID, sa.ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("mapping", JSONDOC, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
)

# Segments keep their conditions as given (field names, not paths): fields are resolved
# through the mapping when a segment is evaluated, so membership follows mapping changes.
segments = sa.Table(
    "segments",
    metadata,
    sa.Column("tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    sa.Column("id", UUID, nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("type", sa.Text(), nullable=False),
    sa.Column("conditions", JSONDOC, nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_segments"),
    sa.Index("ix_segments_listing", "tenant_id", "created_at", "id"),
)

channel_accounts = sa.Table(
    "channel_accounts",
    metadata,
    sa.Column("tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    sa.Column("id", UUID, nullable=False),
    sa.Column("type", sa.Text(), nullable=False),
    sa.Column("metadata", JSONDOC, nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_channel_accounts"),
    sa.Index("ix_channel_accounts_listing", "tenant_id", "created_at", "id"),
)

# Idempotency keys (issue 13): the first successful response to a keyed write, per tenant and
# key, stored in the write's own transaction; replayed to a retry until ``expires_at``. No
# foreign key to ``tenants`` (0022), as ``events``: on PostgreSQL its check locked the tenant's
# row in every keyed write. Tenants are never deleted as rows; their keys expire and are pruned.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("tenant_id", UUID, nullable=False),
    sa.Column("idem_key", sa.Text(), nullable=False),
    sa.Column("request_hash", sa.Text(), nullable=False),
    sa.Column("status", sa.SmallInteger(), nullable=False),
    sa.Column("headers", sa.Text(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("expires_at", TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "idem_key", name="pk_idempotency_keys"),
    # PostgreSQL only: SQLite prunes oldest first by rowid, one B-tree fewer per keyed write
    # (0021).
    sa.Index("ix_idempotency_keys_expires_at", "expires_at").ddl_if(dialect="postgresql"),
)

# Change events (issue 14): appended in the transaction of the write they describe, with
# ``position`` NULL; a serialised stamper gives committed events their commit-ordered
# ``position`` afterwards, and readers only ever see stamped events (docs/events.md). SQLite,
# whose one writer makes ``seq`` commit-ordered, sets ``position = seq`` at insert (0015). No
# foreign keys: a ``tenant.deleted`` event outlives its tenant until retention prunes it.
events = sa.Table(
    "events",
    metadata,
    # A sequence on PostgreSQL. On SQLite the rowid and primary key alone (migration 0016: two
    # B-trees fewer per event), given by the inserting statement (reach.storage.events).
    sa.Column("seq", SEQ, nullable=False, autoincrement=True),
    sa.Column("tenant_id", UUID, nullable=False),
    sa.Column("id", UUID, nullable=False),
    sa.Column("partner_id", UUID, nullable=False),
    sa.Column("position", sa.BigInteger(), nullable=True),
    sa.Column("type", sa.Text(), nullable=False),
    sa.Column("schema_id", UUID, nullable=True),
    sa.Column("external_id", sa.Text(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=True),
    sa.Column("occurred_at", TIMESTAMP, nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    # SQLite only (migration 0020): the ``seq`` of the same record's previous event, so that a
    # record's history is a chain walked from its head (``resources.last_event``, or
    # ``event_heads`` once the record is deleted) instead of an index every event enters.
    sa.Column("prev", sa.BigInteger(), nullable=True, info=SQLITE_ONLY),
    sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_events"),
    sa.Index("ix_events_feed", "tenant_id", "position"),
    # PostgreSQL only since 0020 (SQLite walks the chain above).
    sa.Index("ix_events_history", "tenant_id", "schema_id", "external_id", "seq").ddl_if(
        dialect="postgresql"
    ),
    # The webhook dispatcher's read in position order, and (its ``position IS NULL`` range)
    # the stamper's unstamped events in seq order: one index, paid once by every write (0015).
    # PostgreSQL only: SQLite has no stamper, and its position is the rowid (0016).
    sa.Index("ix_events_stamp", "position", "seq").ddl_if(dialect="postgresql"),
)

# SQLite only (migration 0020): the head of a deleted record's history chain, copied from
# ``resources.last_event`` by a trigger as the row goes, so that the record's delete event
# (appended after the row is gone), its history, and a later record of the same key (whose
# chain continues the old one) still find it.
event_heads = sa.Table(
    "event_heads",
    metadata,
    sa.Column("tenant_id", UUID, nullable=False),
    sa.Column("schema_id", UUID, nullable=False),
    sa.Column("external_id", sa.Text(), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "schema_id", "external_id", name="pk_event_heads"),
    info=SQLITE_ONLY,
)

# One row (id = 1): the last position the stamper gave. Its row lock serialises stampers.
event_stamp = sa.Table(
    "event_stamp",
    metadata,
    sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
    sa.Column("last_position", sa.BigInteger(), nullable=False),
)

# Webhooks (migration 0010): a partner's endpoints, the durable outbox of deliveries, and the
# dispatcher's place in the event log.
webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("partner_id", UUID, sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    # JSON lists; NULL means every event type / tenant / schema.
    sa.Column("event_types", JSONDOC, nullable=True),
    sa.Column("tenant_ids", JSONDOC, nullable=True),
    sa.Column("schema_ids", JSONDOC, nullable=True),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("disabled_reason", sa.Text(), nullable=True),
    # AES-GCM ciphertexts (reach.secretbox), bound to the endpoint id; the previous secret
    # keeps signing next to the new one until previous_secret_expires_at.
    sa.Column("sealed_secret", sa.Text(), nullable=False),
    sa.Column("sealed_previous_secret", sa.Text(), nullable=True),
    sa.Column("previous_secret_expires_at", TIMESTAMP, nullable=True),
    # Since when every attempt has failed (NULL: the last one succeeded, or none yet).
    sa.Column("failing_since", TIMESTAMP, nullable=True),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
    sa.Index("ix_webhook_endpoints_partner_id", "partner_id", "created_at", "id"),
)

# A partner's, distributed by partner_id (migration 0014): the partner is in every key.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", UUID, nullable=False),
    sa.Column(
        "endpoint_id",
        UUID,
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("partner_id", UUID, nullable=False),
    sa.Column("tenant_id", UUID, nullable=True),
    sa.Column("event_id", sa.Text(), nullable=False),
    sa.Column("event_type", sa.Text(), nullable=False),
    sa.Column("event_position", sa.BigInteger(), nullable=False),
    # The exact bytes posted on every attempt (the signature covers them).
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("status", sa.Text(), nullable=False),  # pending | succeeded | failed
    sa.Column("attempts", sa.Integer(), nullable=False),
    # When it is due; a claim moves it one lease ahead, so a sender that dies mid-attempt
    # leaves it due again once the lease has passed.
    sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
    sa.Column("last_attempt_at", TIMESTAMP, nullable=True),
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("last_response_body", sa.Text(), nullable=True),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("completed_at", TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint("id", "partner_id", name="pk_webhook_deliveries"),
    sa.UniqueConstraint(
        "endpoint_id", "event_id", "partner_id", name="uq_webhook_deliveries_endpoint_event"
    ),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
    sa.Index("ix_webhook_deliveries_completed_at", "completed_at"),
)

webhook_dispatch = sa.Table(
    "webhook_dispatch",
    metadata,
    sa.Column("name", sa.Text(), primary_key=True),
    sa.Column("position", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
)

# Was the highest ``seq`` ever given per table, on SQLite (migration 0013). Unused since
# resources and batches take SQLite's AUTOINCREMENT rowid (0017) and events keep their
# high-water mark in ``event_stamp`` (0016); empty on both engines.
sequences = sa.Table(
    "sequences",
    metadata,
    sa.Column("name", sa.Text(), primary_key=True),
    sa.Column("last", sa.BigInteger(), nullable=False),
)
