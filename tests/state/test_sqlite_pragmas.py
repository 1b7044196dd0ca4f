"""The SQLite store's connection settings, read back from real connections, and what they are for.

`connector.state.connect._sqlite_pragmas` sets them on every connection the pool opens; a
setting lost (a pragma misspelt, the listener gone) fails here.
"""

from __future__ import annotations

import os
from pathlib import Path

from connector.state.connect import StoreTimeouts
from connector.state.store import StateStore, open_store


def _store(tmp_path: Path) -> StateStore:
    return open_store(f"sqlite:///{tmp_path / 'state.db'}", tmp_path, timeouts=StoreTimeouts(3, 7))


def test_every_connection_carries_the_store_settings(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        # Two connections at once: the second one is new, so the settings are per connection.
        with store.engine.connect() as first, store.engine.connect() as second:
            for conn in (first, second):
                shown = {
                    name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                    for name in (
                        "journal_mode",
                        "synchronous",
                        "busy_timeout",
                        "cache_size",
                        "temp_store",
                    )
                }
                assert shown == {
                    "journal_mode": "wal",
                    "synchronous": 1,  # NORMAL
                    "busy_timeout": 7000,
                    "cache_size": -65536,  # KiB: 64 MiB
                    "temp_store": 2,  # MEMORY
                }
    finally:
        store.close()


def _temp_files() -> list[str]:
    """SQLite's temporary files this process holds open. SQLite unlinks them as soon as it
    opens them (named `etilqs_*`), so only the process's descriptors still show them."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if "etilqs_" in target:
            found.append(target)
    return found


def test_the_savepoint_of_a_flush_keeps_its_journal_in_memory(tmp_path: Path) -> None:
    """A flush of binds updating existing bindings, one key twice, runs in a savepoint
    (`_flush_binds`, `_needs_savepoint`), whose statement journal holds the original of every
    page it changes: past 64 KiB SQLite spills it to a temporary file unless `temp_store` is
    MEMORY. Checked while the transaction is still open, when that file would be (it is
    closed with the transaction)."""
    store = _store(tmp_path)
    keys = [f"k{i:05d}" for i in range(2000)]
    try:
        with store.transaction() as tx:
            for key in keys:
                tx.bind("customer", key, "crm", f"c-{key}", snapshot={"name": key, "n": 0})
        with store.transaction() as tx:
            for key in keys:
                tx.bind("customer", key, "crm", f"c-{key}", snapshot={"name": key * 20, "n": 1})
            # (a key bound twice in the run: only such a run takes the savepoint on SQLite)
            tx.bind(
                "customer", keys[0], "crm", f"c-{keys[0]}", snapshot={"name": keys[0] * 20, "n": 1}
            )
            tx.flush()  # the savepoint: ~2,000 rows, hundreds of pages changed
            assert _temp_files() == []
        bound = store.bindings_for("customer", "crm", keys[:1])[keys[0]]
        assert bound.snapshot == {"name": keys[0] * 20, "n": 1}
        assert store.count_bindings("customer", "crm") == 2000
    finally:
        store.close()
