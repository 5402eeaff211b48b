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
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY is the rowid

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

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("id", UUID, nullable=False, unique=True),
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
    sa.UniqueConstraint("tenant_id", "schema_id", "external_id", name="uq_resources_key"),
    sa.Index("ix_resources_listing", "tenant_id", "schema_id", "seq"),
)

# Batches (issue 4): one row per accepted batch job, one row per item. The worker's claim
# (``claimed_by``/``lease_until``) and its next look (``wake_at``: NULL once complete) live on
# the batch row; ``state`` holds a delete-all batch's resume point.
batches = sa.Table(
    "batches",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("id", UUID, nullable=False, unique=True),
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
    sa.Index("ix_batches_tenant", "tenant_id", "seq"),
    sa.Index("ix_batches_wake", "wake_at"),
)

batch_items = sa.Table(
    "batch_items",
    metadata,
    sa.Column(
        "batch_id",
        UUID,
        sa.ForeignKey("batches.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("external_id", sa.Text(), nullable=True),
    sa.Column("payload", JSONDOC, nullable=True),
    sa.Column("status", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("errors", JSONDOC, nullable=True),
    sa.Column("missing", JSONDOC, nullable=True),
    sa.Column("pending_at", TIMESTAMP, nullable=True),
    sa.Column("expires_at", TIMESTAMP, nullable=True),
)

# One row per (pending item, dependency it waits for): the worker wakes a batch as soon as a
# record matching one of its rows exists, whichever path created it.
batch_waits = sa.Table(
    "batch_waits",
    metadata,
    sa.Column(
        "batch_id",
        UUID,
        sa.ForeignKey("batches.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("schema_id", UUID, primary_key=True),
    sa.Column("external_id", sa.Text(), primary_key=True),
    sa.Column("tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
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
# key, stored in the write's own transaction; replayed to a retry until ``expires_at``.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    sa.Column("idem_key", sa.Text(), nullable=False),
    sa.Column("request_hash", sa.Text(), nullable=False),
    sa.Column("status", sa.SmallInteger(), nullable=False),
    sa.Column("headers", sa.Text(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("expires_at", TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "idem_key", name="pk_idempotency_keys"),
    sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
)

# Change events (issue 14): appended in the transaction of the write they describe, with
# ``position`` NULL; a serialised stamper gives committed events their commit-ordered
# ``position`` afterwards, and readers only ever see stamped events (docs/events.md). No
# foreign keys: a ``tenant.deleted`` event outlives its tenant until retention prunes it.
events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
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
    sa.Index("ix_events_feed", "tenant_id", "position"),
    sa.Index("ix_events_history", "tenant_id", "schema_id", "external_id", "seq"),
    sa.Index("ix_events_position", "position"),
    sa.Index(
        "ix_events_unstamped",
        "seq",
        postgresql_where=sa.text("position IS NULL"),
        sqlite_where=sa.text("position IS NULL"),
    ),
)

# One row (id = 1): the last position the stamper gave. Its row lock serialises stampers.
event_stamp = sa.Table(
    "event_stamp",
    metadata,
    sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
    sa.Column("last_position", sa.BigInteger(), nullable=False),
)
