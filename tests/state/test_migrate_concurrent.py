"""Several processes opening one new store at once: one applies the migrations, the others wait
for it and find the store current (two daemons started together used to fail with "table
already exists" on all three databases, and exit as if the store were down)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

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


@contextmanager
def migration_lock_held(url: str) -> Iterator[threading.Event]:
    """The store at `url`'s migration lock, held by another connection until the event
    yielded is set or the block ends."""
    holder = create_store_engine(url, StoreTimeouts())
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.begin() as conn, migration_lock(conn, 10):
            taken.set()
            release.wait(60)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        # The lock taken (an event, not a pause: a loaded machine may start the thread late).
        assert taken.wait(60)
        yield release
    finally:
        release.set()
        thread.join(60)
        holder.dispose()


def test_a_migration_in_progress_elsewhere_is_waited_for(store_url: str, tmp_path: Path) -> None:
    with migration_lock_held(store_url) as release:
        # A waiter that gives up before the holder is done says so, and is not an outage.
        with pytest.raises(StoreUnavailableError, match="another process has been migrating"):
            open_store(store_url, tmp_path, timeouts=StoreTimeouts(statement_seconds=1))
        # One that waits long enough migrates once the holder lets go, and not before.
        released: list[bool] = []
        threading.Timer(0.5, lambda: (released.append(True), release.set())).start()
        store = open_store(store_url, tmp_path, timeouts=StoreTimeouts(statement_seconds=30))
        assert released, "it returned before the holder let go"
        assert store.migrations_current()
        store.close()


def test_a_migration_in_another_postgresql_schema_is_not_waited_for(
    pg_schema_url: str, tmp_path: Path
) -> None:
    """A PostgreSQL store is a schema: a store in another schema of the same database (another
    connector, another test) migrating meanwhile holds no lock this one needs."""
    base = make_url(pg_schema_url)
    other_schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.set(query={}), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{other_schema}"'))
    other_url = base.update_query_dict({"options": f"-csearch_path={other_schema}"})
    try:
        with migration_lock_held(other_url.render_as_string(hide_password=False)):
            store = open_store(pg_schema_url, tmp_path, timeouts=StoreTimeouts(statement_seconds=1))
            assert store.migrations_current()
            store.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{other_schema}" CASCADE'))
        admin.dispose()
