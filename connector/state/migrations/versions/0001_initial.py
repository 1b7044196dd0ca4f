"""The initial store: bindings, cursors, runs, failures, inbox and leases.

Revision ID: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: On MariaDB a DATETIME keeps whole seconds unless given a precision: (6) keeps microseconds.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

#: MariaDB's table options: InnoDB for transactions and row locks; utf8mb4 for every character;
#: a binary collation without padding, so ids compare as on PostgreSQL and SQLite ("A" is not
#: "a", "a" is not "a "; the server's default collation ignores case, and "_bin" alone still
#: pads); DYNAMIC rows, whose index keys may be 3,072 bytes — the widest unique key here,
#: (32 + 64 + 255) utf8mb4 characters, is 1,404 bytes, over the 767 of the older COMPACT.
#: SQLAlchemy reads them prefixed `mariadb_` for a mariadb:// URL and `mysql_` for mysql://;
#: other databases ignore both.
MARIADB: dict[str, Any] = {
    f"{prefix}_{option}": value
    for prefix in ("mysql", "mariadb")
    for option, value in {
        "engine": "InnoDB",
        "charset": "utf8mb4",
        "collate": "utf8mb4_nopad_bin",
        "row_format": "DYNAMIC",
    }.items()
}


def upgrade() -> None:
    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("snapshot", sa.JSON, nullable=True),
        sa.Column("hash", sa.String(64), nullable=True),
        sa.Column("remote_updated_at", TIMESTAMP, nullable=True),
        sa.Column("synced_at", TIMESTAMP, nullable=True),
        sa.UniqueConstraint("entity", "key", "system", name="uq_bindings_key"),
        sa.UniqueConstraint("entity", "system", "external_id", name="uq_bindings_external"),
        **MARIADB,
    )
    op.create_table(
        "cursors",
        sa.Column("route", sa.String(128), primary_key=True),
        sa.Column("entity", sa.String(32), primary_key=True),
        sa.Column("watermark", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        **MARIADB,
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("route", sa.String(128), nullable=False, index=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("counts", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        **MARIADB,
    )
    op.create_table(
        "failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("route", sa.String(128), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("key", sa.String(64), nullable=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("error_class", sa.String(128), nullable=False),
        sa.Column("code", sa.String(128), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=True),
        sa.Column("retryable", sa.Boolean, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("next_retry_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("route", "entity", "external_id", name="uq_failures_record"),
        **MARIADB,
    )
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.UniqueConstraint("source", "event_id", name="uq_inbox_event"),
        **MARIADB,
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("acquired_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        **MARIADB,
    )


def downgrade() -> None:
    for table in ("leases", "inbox", "failures", "runs", "cursors", "bindings"):
        op.drop_table(table)
