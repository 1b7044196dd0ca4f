"""PostgreSQL: `bindings` pages keep 15 % free, so that an update can stay on its page.

An incremental run updates each changed record's two bindings (snapshot, hash, times: no
indexed column). PostgreSQL writes the new version of a row on the same page, without a new
entry in any of the table's three indexes (a heap-only tuple, "HOT"), only when that page has
room; pages filled to 100 % have none, so nearly every update went to another page and into
all three indexes (bench/README.md, "updstore": 0.4 % HOT updates, 40 to 65 % with 85 %).
postgresql.org/docs/current/storage-hot.html, /sql-createtable.html#RELOPTION-FILLFACTOR

Setting it leaves the existing pages as they are (rewriting them would lock the table); pages
written from now on keep the room. SQLite and MariaDB have no such setting: no-op there.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: Per cent of a page that inserts fill; a binding row is ~1 KB of an 8 KB page.
FILLFACTOR = 85


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE bindings SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE bindings RESET (fillfactor)")
