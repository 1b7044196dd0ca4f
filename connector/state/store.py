"""`StateStore`: the durable memory of the sync, behind one small API.

Everything the engine, the daemon and the CLI remember goes through here, in short transactions.
Reads are plain methods; writes that must land together (a batch's bindings, its failures and the
cursor after it) go through `transaction()`, which yields a `StoreTx`.

This module opens the database and holds the two classes; each concept's queries live in its own
module and are mixed in: `bindings`, `cursors`, `runs`, `failures`, `inbox` and `leases`. The
records they return are importable from here too.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Dialect, Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from connector.dburl import MISSING_DATABASE_HINT, normalise_url, sqlite_file
from connector.errors import (
    ConfigurationError,
    ConnectorError,
    StoreRefusedError,
    StoreUnavailableError,
)
from connector.state.base import MYSQL_FAMILY
from connector.state.bindings import Binding, BindingStore, BindingTx
from connector.state.checksums import ChecksumStore
from connector.state.connect import (
    StoreTimeouts,
    check_server,
    create_store_engine,
    is_outage,
    is_refusal,
    outage_reason,
    raise_refusals,
    refused,
)
from connector.state.cursors import CursorStore, CursorTx
from connector.state.failures import (
    Failure,
    FailureStatus,
    FailureStore,
    FailureTx,
    RetryOutlook,
)
from connector.state.hotpath import hot_path
from connector.state.inbox import InboxEvent, InboxStore
from connector.state.leases import Lease, LeaseStore, fence
from connector.state.migrate import is_current, upgrade
from connector.state.runs import Run, RunStatus, RunStore, StartedRun
from connector.state.snapshots import snapshot_hash
from connector.state.statistics import BindingStatistics
from connector.state.upserts import conflict_detail
from connector.timestamps import WallClock, utc_now

__all__ = [
    "Binding",
    "Failure",
    "FailureStatus",
    "Fence",
    "InboxEvent",
    "Lease",
    "RetryOutlook",
    "Run",
    "RunStatus",
    "StartedRun",
    "StateStore",
    "StoreConflict",
    "StoreTimeouts",
    "StoreTx",
    "database_url",
    "open_store",
    "snapshot_hash",
]


class StoreTx(BindingTx, CursorTx, FailureTx):
    """The writes of one transaction. Obtained from `StateStore.transaction()`.

    The database transaction is begun (and fenced) by the first statement that needs it, not
    before: a transaction whose writes all turn out to be nothing (a page of unchanged records
    resolving failures that no record has) begins none, so it takes no write lock, writes no
    fence row and commits nothing (`FailureTx._flush_resolved`).
    """

    def __init__(
        self,
        begin: Callable[[], Connection],
        look: Callable[[], AbstractContextManager[Connection]],
        dialect: Dialect,
        now: dt.datetime,
    ) -> None:
        self._begin = begin
        self._look = look
        self._began: Connection | None = None
        self._hot = hot_path(dialect)
        self.now = now
        # Binds and resolutions are gathered and written in bulk (see `flush`).
        self._binds = []
        self.bound_rows = 0
        self._synced_at = None
        self._resolved = {}

    @property
    def _conn(self) -> Connection:
        """The transaction's connection, begun and fenced on first use."""
        conn = self._began
        if conn is None:
            conn = self._began = self._begin()
        return conn

    @property
    def began(self) -> bool:
        return self._began is not None

    def _reading(self) -> AbstractContextManager[Connection]:
        """A connection to read on: the transaction's once begun, else a plain one (whose read
        is what the transaction would have read first: nothing of it was written yet)."""
        if self._began is not None:
            return nullcontext(self._began)
        return self._look()

    def flush(self) -> None:
        """Write the gathered binds and resolutions; every other write flushes first."""
        self._flush_binds()
        self._flush_resolved()


class Fence(Protocol):
    """What a fenced store checks before each transaction (the engine's `RunLease`)."""

    @property
    def lease(self) -> Lease: ...

    def check(self) -> None:
        """Raise `LeaseLostError` if the lease is known lost or past its expiry here."""


class StateStore(
    BindingStore, CursorStore, RunStore, FailureStore, InboxStore, LeaseStore, ChecksumStore
):
    """The sync-state store on one database (SQLite file, PostgreSQL or MariaDB)."""

    def __init__(self, engine: Engine, clock: WallClock = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self.guard: Fence | None = None
        self.statistics = BindingStatistics(engine)
        #: The first refusal the server answered a connection with (`connect.raise_refusals`).
        self.refusal: StoreRefusedError | None = None
        self._refusal_listeners: list[Callable[[StoreRefusedError], None]] = []
        #: Set once the migrations ran: from then on a missing table means the store is gone.
        self.migrated = False
        raise_refusals(engine, self._refused, lambda: self.migrated)

    def on_refusal(self, listener: Callable[[StoreRefusedError], None]) -> None:
        """Call `listener` (on whichever thread met it) each time the server refuses us."""
        self._refusal_listeners.append(listener)

    def _refused(self, error: StoreRefusedError) -> None:
        if self.refusal is None:
            self.refusal = error
        for listener in list(self._refusal_listeners):
            listener(error)

    def fenced(self, guard: Fence) -> StateStore:
        """This store, but every `transaction()` first proves `guard`'s lease is still current.

        The proof is the first statement of the transaction itself (see `leases.fence`), so a
        run that lost its lease commits nothing — not a binding, not a failure, not a cursor.
        """
        view = copy.copy(self)
        view.guard = guard
        return view

    def migrate(self, wait_seconds: float = StoreTimeouts.statement_seconds) -> None:
        """Bring the store's tables up to date, waiting up to `wait_seconds` for another
        process that is doing the same (`migrate.migration_lock`)."""
        if not self.migrations_current():  # the lock only when there is something to apply
            with self.engine.begin() as conn:
                upgrade(conn, wait_seconds)
        self.migrated = True

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
        """One store transaction; a unique constraint it breaks is a `StoreConflict`."""
        guard = self.guard
        if guard is not None:
            guard.check()
        engine = self.engine
        try:
            with ExitStack() as stack:

                def begin() -> Connection:
                    # Fenced before its first statement: a run that lost its lease writes
                    # nothing. (Left by the stack: committed, or rolled back on an error.)
                    conn = stack.enter_context(engine.begin())
                    if guard is not None:
                        fence(conn, guard.lease)
                    return conn

                tx = StoreTx(begin, engine.connect, engine.dialect, self.clock())
                yield tx
                tx.flush()
        except IntegrityError as error:
            detail = conflict_detail(error)
            raise StoreConflict(f"the state store refused the change: {detail}") from error
        # Committed: a table that grew a lot gets the planner's statistics it needs.
        self.statistics.wrote(tx.bound_rows)


class StoreConflict(ConnectorError):
    """A store write broke a unique constraint (a target record bound to two records)."""


def database_url(url: str | None, base_dir: Path) -> str:
    """The SQLAlchemy URL to use: a SQLite file beside the config unless told otherwise.

    A relative SQLite path is relative to the config's folder; `postgresql://` is taken to
    mean the psycopg 3 driver, `mariadb://` and `mysql://` PyMySQL (`connector.dburl`).
    """
    if not url:
        return f"sqlite:///{(base_dir / 'connector-state.db').resolve()}"
    parsed = normalise_url(url, "state.url")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", *MYSQL_FAMILY):
        raise ConfigurationError(
            f"state.url: the state store runs on SQLite, PostgreSQL or MariaDB, not "
            f"{backend!r} (e.g. postgresql://user@host/db, mariadb://user@host/db)"
        )
    if backend in MYSQL_FAMILY and parsed.get_driver_name() != "pymysql":
        # Its timeouts and row counts are set through PyMySQL's own options (`connect`).
        raise ConfigurationError(
            f"state.url: a MariaDB store is reached through PyMySQL (mariadb+pymysql:// or "
            f"mariadb://), not {parsed.get_driver_name()!r}"
        )
    path = sqlite_file(parsed, base_dir)
    if path is not None:
        parsed = parsed.set(database=str(path.resolve()))
    return parsed.render_as_string(hide_password=False)


def open_store(
    url: str | None,
    base_dir: Path = Path("."),
    *,
    clock: WallClock = utc_now,
    timeouts: StoreTimeouts | None = None,
) -> StateStore:
    """Connect, apply pending migrations, and return the store.

    A store that does not answer is a `StoreUnavailableError`, after `timeouts` at most; one
    whose server refuses the connection (an unknown database, user or password) and a SQLite
    store whose folder is missing (a fresh clone) are a `ConfigurationError` that says so.
    """
    resolved = database_url(url, base_dir)
    path = sqlite_file(make_url(resolved), base_dir)
    if path is not None and not path.parent.is_dir():
        raise ConfigurationError(
            f"state.url: the folder of the state store {path} does not exist; create it, "
            f"or {MISSING_DATABASE_HINT}"
        )
    engine = create_store_engine(resolved, timeouts or StoreTimeouts())
    store = StateStore(engine, clock)
    try:
        check_server(engine)
        store.migrate((timeouts or StoreTimeouts()).statement_seconds)
    except Exception as error:
        engine.dispose()
        if is_refusal(error):
            raise refused(error) from None
        if is_outage(error):
            message = f"the state store is not answering: {outage_reason(error)}"
            raise StoreUnavailableError(message) from None
        raise
    return store
