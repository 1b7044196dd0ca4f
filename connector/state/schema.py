"""The store's tables as SQLAlchemy Core objects (the queries use these; Alembic owns DDL).

The unique constraints are what make duplicates impossible:

* `bindings`: one row per (entity, canonical key, system) and per (entity, system, external
  id) — a record is bound to at most one record in each system, and the other way round;
* `inbox`: one row per (source, event id) — a redelivered webhook is a no-op;
* `failures`: one row per (route, entity, source external id) — a record fails in one place.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

metadata = MetaData()


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite, PostgreSQL and MariaDB.

    SQLite and MariaDB's DATETIME have no time zone and hand back naive values; storing UTC and
    re-attaching the zone on the way out keeps comparisons in Python correct on all three.
    MariaDB's DATETIME keeps whole seconds unless told a precision: DATETIME(6) keeps the
    microseconds that cursor watermarks and lease expiries carry (the migrations create it so).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            # Imported here: a store on SQLite never loads the MySQL dialect (start-up time).
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(self.impl)

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError("the store only takes timezone-aware datetimes")
        utc = value.astimezone(dt.UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


bindings = Table(
    "bindings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity", String(32), nullable=False),
    Column("key", String(64), nullable=False),
    Column("system", String(64), nullable=False),
    Column("external_id", String(255), nullable=False),
    # Canonical values (flattened paths) as last written to or read from this system.
    Column("snapshot", JSON, nullable=True),
    Column("hash", String(64), nullable=True),
    # When this system last changed the record, as we last saw it.
    Column("remote_updated_at", UtcDateTime(), nullable=True),
    Column("synced_at", UtcDateTime(), nullable=True),
    UniqueConstraint("entity", "key", "system", name="uq_bindings_key"),
    UniqueConstraint("entity", "system", "external_id", name="uq_bindings_external"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("route", String(128), primary_key=True),
    Column("entity", String(32), primary_key=True),
    Column("watermark", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(128), nullable=False, index=True),
    Column("trigger", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("counts", JSON, nullable=True),
    Column("error", Text, nullable=True),
    # Who runs it (host:pid:nonce) and when it last renewed its lease: a process that died
    # leaves `running` behind, and whoever takes the route next marks it `abandoned` with this.
    Column("holder", String(128), nullable=True),
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    # Every run looks for the route's runs still `running` (migration 0005).
    Index("ix_runs_running", "route", "status"),
)

failures = Table(
    "failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(128), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("key", String(64), nullable=True),
    Column("stage", String(16), nullable=False),
    Column("error_class", String(128), nullable=False),
    Column("code", String(128), nullable=True),
    Column("message", Text, nullable=False),
    Column("payload", JSON, nullable=True),
    Column("retryable", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("status", String(16), nullable=False),
    Column("next_retry_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("route", "entity", "external_id", name="uq_failures_record"),
    # Whether a route's entity has any pending failure, answered without reading its resolved
    # ones: a transaction that synced records resolves their failures only if it has one.
    Index("ix_failures_pending", "route", "entity", "status"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("occurred_at", UtcDateTime(), nullable=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("error", Text, nullable=True),
    UniqueConstraint("source", "event_id", name="uq_inbox_event"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("acquired_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    # The fencing token: one more each time a different holder takes the lease. Rows are never
    # deleted (a release only expires them), so a token is never handed out twice.
    Column("token", Integer, nullable=False, default=0),
)

#: Checksum mode (a source without a usable change column): the last hash seen per row. A NULL
#: hash is a tombstone, kept until the route's cursor has passed the vanishing. `ordinal` holds
#: an integer key, so a keyset scan compares one key range per page (flat memory).
row_checksums = Table(
    "row_checksums",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("row_key", String(255), nullable=False),
    Column("ordinal", BigInteger, nullable=True),
    Column("hash", String(32), nullable=True),
    Column("changed_at", UtcDateTime(), nullable=False),
    UniqueConstraint("system", "entity", "row_key", name="uq_row_checksums_key"),
    Index("ix_row_checksums_ordinal", "system", "entity", "ordinal"),
    Index("ix_row_checksums_changed", "system", "entity", "changed_at", "row_key"),
)
