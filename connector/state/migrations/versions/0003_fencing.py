"""Fencing tokens on leases; the holder and heartbeat of a run.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: As in 0001: microseconds on MariaDB.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("leases") as leases:
        leases.add_column(sa.Column("token", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("runs") as runs:
        runs.add_column(sa.Column("holder", sa.String(128), nullable=True))
        runs.add_column(sa.Column("heartbeat_at", TIMESTAMP, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as runs:
        runs.drop_column("heartbeat_at")
        runs.drop_column("holder")
    with op.batch_alter_table("leases") as leases:
        leases.drop_column("token")
