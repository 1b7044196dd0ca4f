"""Row checksums for sources without a usable change column (additive: one new table).

Revision ID: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: As in 0001: microseconds on MariaDB, and its table options.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
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
        "row_checksums",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("row_key", sa.String(255), nullable=False),
        sa.Column("ordinal", sa.BigInteger, nullable=True),
        sa.Column("hash", sa.String(32), nullable=True),
        sa.Column("changed_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("system", "entity", "row_key", name="uq_row_checksums_key"),
        **MARIADB,
    )
    op.create_index("ix_row_checksums_ordinal", "row_checksums", ["system", "entity", "ordinal"])
    op.create_index(
        "ix_row_checksums_changed", "row_checksums", ["system", "entity", "changed_at", "row_key"]
    )


def downgrade() -> None:
    op.drop_table("row_checksums")
