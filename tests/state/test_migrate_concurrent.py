"""Several processes opening one new store at once: one applies the migrations, the others wait
for it and find the store current (two daemons started together used to fail with "table
already exists" on all three databases, and exit as if the store were down)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from connector.errors import StoreUnavailableError
from connector.state.connect import StoreTimeouts, create_store_engine
from connector.state.migrate import head_revisions, migration_lock
from connector.state.store import open_store

REPO = Path(__file__).resolve().parents[2]
OPENERS = 4

# Each opener announces itself, waits until all have, then opens the store: the migrations of
# all of them start within milliseconds of each other.
OPENER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from connector.state.store import open_store

    url, folder, me, count = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    (folder / f"ready-{me}").touch()
    deadline = time.monotonic() + 60
    while len(list(folder.glob("ready-*"))) < count and time.monotonic() < deadline:
        time.sleep(0.001)
    try:
        open_store(url, folder).close()
    except Exception as error:
        print(f"{type(error).__name__}: {error}")
        sys.exit(1)
    """
)


def test_processes_opening_a_new_store_at_once_all_succeed(store_url: str, tmp_path: Path) -> None:
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, store_url, str(tmp_path), str(n), str(OPENERS)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(OPENERS)
    ]
    outputs = [opener.communicate(timeout=120)[0] for opener in openers]
    assert [opener.returncode for opener in openers] == [0] * OPENERS, outputs
    store = open_store(store_url, tmp_path)
    with store.engine.connect() as conn:
        versions = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    store.close()
    assert frozenset(versions) == head_revisions() and len(versions) == len(head_revisions())


def test_a_migration_in_progress_elsewhere_is_waited_for(store_url: str, tmp_path: Path) -> None:
    holder = create_store_engine(store_url, StoreTimeouts())
    released = threading.Event()

    def hold_then_release() -> None:
        with holder.begin() as conn, migration_lock(conn, 10):
            released.wait(10)

    thread = threading.Thread(target=hold_then_release)
    try:
        thread.start()
        time.sleep(0.3)  # the lock taken
        # A waiter that gives up before the holder is done says so, and is not an outage.
        with pytest.raises(StoreUnavailableError, match="another process has been migrating"):
            open_store(store_url, tmp_path, timeouts=StoreTimeouts(statement_seconds=1))
        # One that waits long enough migrates once the holder lets go.
        threading.Timer(0.5, released.set).start()
        started = time.monotonic()
        store = open_store(store_url, tmp_path, timeouts=StoreTimeouts(statement_seconds=10))
        assert time.monotonic() - started >= 0.4, "it must have waited for the holder"
        assert store.migrations_current()
        store.close()
    finally:
        released.set()
        thread.join(10)
        holder.dispose()
