"""An index answering "which runs of this route are still running?" (additive).

Every run asks it as it takes its route's lease (`runs.begin_run`: runs a dead process left
`running` are marked abandoned). The index on `route` alone made that a walk over every run the
route ever had: 52 ms a run on SQLite with 500,000 of them (a year of runs a minute), 0.5 ms
with this index (bench/README.md, "fixedcost").

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_running", "runs", ["route", "status"])


def downgrade() -> None:
    op.drop_index("ix_runs_running", table_name="runs")
