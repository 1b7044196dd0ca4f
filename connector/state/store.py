"""`StateStore`: the durable memory of the sync, behind one small API.

Everything the engine, the daemon and the CLI remember goes through here, in short transactions.
Reads are plain methods; writes that must land together (a batch's bindings, its failures and the
cursor after it) go through `transaction()`, which yields a `StoreTx`.

This module opens the database and holds the two classes; each concept's queries live in its own
module and are mixed in: `bindings`, `cursors`, `runs`, `failures`, `inbox` and `leases`. The
records they return are importable from here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import make_url

from connector.state.base import Clock, utcnow
from connector.state.bindings import Binding, BindingStore, BindingTx, snapshot_hash
from connector.state.checksums import ChecksumStore
from connector.state.cursors import CursorStore, CursorTx
from connector.state.failures import Failure, FailureStatus, FailureStore, FailureTx
from connector.state.inbox import InboxEvent, InboxStore
from connector.state.leases import LeaseStore
from connector.state.migrate import is_current, upgrade
from connector.state.runs import Run, RunStore

__all__ = [
    "Binding",
    "Clock",
    "Failure",
    "FailureStatus",
    "InboxEvent",
    "Run",
    "StateStore",
    "StoreTx",
    "database_url",
    "open_store",
    "snapshot_hash",
    "utcnow",
]


class StoreTx(BindingTx, CursorTx, FailureTx):
    """The writes of one transaction. Obtained from `StateStore.transaction()`."""

    def __init__(self, conn: Connection, now: dt.datetime) -> None:
        self._conn = conn
        self.now = now
        # Binds and resolutions are gathered and written in bulk (see `flush`).
        self._binds = {}
        self._resolved = {}

    def flush(self) -> None:
        """Write the gathered binds and resolutions; every other write flushes first."""
        self._flush_binds()
        self._flush_resolved()


class StateStore(
    BindingStore, CursorStore, RunStore, FailureStore, InboxStore, LeaseStore, ChecksumStore
):
    """The sync-state store on one database (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def migrate(self) -> None:
        with self.engine.begin() as conn:
            upgrade(conn)

    def migrations_current(self) -> bool:
        with self.engine.connect() as conn:
            return is_current(conn)

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(1)).scalar() == 1

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[StoreTx]:
        with self.engine.begin() as conn:
            tx = StoreTx(conn, self.clock())
            yield tx
            tx.flush()


def database_url(url: str | None, base_dir: Path) -> str:
    """The SQLAlchemy URL to use: a SQLite file beside the config unless told otherwise.

    A relative SQLite path is relative to the config's folder; `postgresql://` is taken to
    mean the psycopg 3 driver.
    """
    if not url:
        return f"sqlite:///{(base_dir / 'connector-state.db').resolve()}"
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute():
            parsed = parsed.set(database=str((base_dir / path).resolve()))
    return parsed.render_as_string(hide_password=False)


def open_store(url: str | None, base_dir: Path = Path("."), *, clock: Clock = utcnow) -> StateStore:
    """Connect, apply pending migrations, and return the store."""
    resolved = database_url(url, base_dir)
    engine = create_engine(resolved, pool_pre_ping=True, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    store = StateStore(engine, clock)
    store.migrate()
    return store


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI read status while a daemon writes; the busy timeout makes two
    # processes wait for each other's short transactions instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Bindings are keyed by random canonical keys, so index inserts land all over the file: a
    # 64 MiB page cache (default 2 MiB) keeps a large store's indexes in memory.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()
