"""Migration 0006: PostgreSQL's `bindings` keeps room on its pages for updates (fillfactor).

On every store the migration upgrades and downgrades; only PostgreSQL's table changes. On
PostgreSQL, an update of a binding's snapshot then stays on its page (a HOT update) where the
page has room: the reason for the setting.
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection, text

from connector.state.migrate import _config, current_revisions
from connector.state.store import StateStore


def _fillfactor(conn: Connection) -> str | None:
    """`bindings`' fillfactor on PostgreSQL (None: the default, 100)."""
    options = conn.execute(
        text(
            "SELECT reloptions FROM pg_class WHERE relname = 'bindings'"
            " AND relnamespace = current_schema()::regnamespace"
        )
    ).scalar_one()
    found = [option for option in options or [] if option.startswith("fillfactor=")]
    return found[0].removeprefix("fillfactor=") if found else None


def test_the_migration_upgrades_and_downgrades(store: StateStore) -> None:
    postgresql = store.engine.dialect.name == "postgresql"
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "one"})
    with store.engine.begin() as conn:
        assert current_revisions(conn) == {"0006"}
        if postgresql:
            assert _fillfactor(conn) == "85"
        command.downgrade(_config(conn), "0005")
        assert current_revisions(conn) == {"0005"}
        if postgresql:
            assert _fillfactor(conn) is None
        command.upgrade(_config(conn), "head")
        assert current_revisions(conn) == {"0006"}
        if postgresql:
            assert _fillfactor(conn) == "85"
    assert store.bindings_for("customer", "crm", ["k1"])["k1"].snapshot == {"name": "one"}


def test_on_postgresql_a_snapshot_update_stays_on_its_page(pg_schema_url: str, tmp_path) -> None:
    from connector.state.store import open_store

    store = open_store(pg_schema_url, tmp_path)
    try:
        with store.transaction() as tx:
            for number in range(200):
                tx.bind("customer", f"k{number}", "crm", f"{number}", snapshot={"n": "x" * 900})
        with store.engine.connect() as conn:
            before = conn.execute(text("SELECT ctid FROM bindings WHERE key = 'k7'")).scalar_one()
        with store.transaction() as tx:
            tx.bind("customer", "k7", "crm", "7", snapshot={"n": "y" * 900})
        with store.engine.connect() as conn:
            after = conn.execute(text("SELECT ctid FROM bindings WHERE key = 'k7'")).scalar_one()
        # (the row's new version on the same page: the block number of its ctid "(block,item)")
        assert str(after).strip("()").split(",")[0] == str(before).strip("()").split(",")[0]
        assert after != before
    finally:
        store.close()
