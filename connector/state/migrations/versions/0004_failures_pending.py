"""An index answering "has this route's entity a pending failure?" (additive).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_failures_pending", "failures", ["route", "entity", "status"])


def downgrade() -> None:
    op.drop_index("ix_failures_pending", table_name="failures")
