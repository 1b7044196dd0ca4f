"""Leases: which process runs a route (or drains the inbox) now, until when, and with which token.

A lease row is never deleted: releasing it only expires it. Each time a *different* holder takes
it, its `token` grows by one, so tokens are handed out once and in order — the fencing token of
Kleppmann's "How to do distributed locking" (martin.kleppmann.com, 2016-02-08) and of Chubby's
sequencers. A run passes its `Lease` to `fence()` at the start of every transaction it commits;
the check is an UPDATE of the lease row, so it also locks that row until the commit, and a new
holder taking the lease waits for the commit instead of slipping in between check and write.

Taking a lease is a conditional UPDATE (ours already, or expired) and, when no row exists, an
INSERT … ON CONFLICT DO NOTHING; both use `RETURNING` because psycopg reports rowcount -1 for
that INSERT. MariaDB has neither UPDATE … RETURNING nor ON CONFLICT DO NOTHING, so there the
row is read with a locking read (`SELECT … FOR UPDATE`: the latest committed row, locked until
the commit, whatever the isolation level), the decision is made here, and a lease with no row
yet is a plain INSERT, whose duplicate-key error means another process just took it. The
store's MariaDB sessions are READ COMMITTED (`connect`), so reading a row that does not exist
locks no gap, and two first takers cannot deadlock: the second INSERT waits for the first and
then fails as a duplicate. The fence's UPDATE counts the rows it *matched* (SQLAlchemy connects
with CLIENT_FOUND_ROWS), although it changes none.

The row lock has one way to outlive its lease on PostgreSQL: a holder frozen (SIGSTOP, a VM
pause) in the middle of sending a statement leaves its backend waiting for the rest of the
message, where neither `statement_timeout` nor `idle_in_transaction_session_timeout` applies and
the frozen machine's kernel still acknowledges keepalives. A taker that finds the expired lease's
row locked therefore ends that backend (`pg_terminate_backend`; PostgreSQL lets a role end its
own sessions): its transaction rolls back, which is exactly what fencing wants of it anyway.

MariaDB has a server-side limit for each of those states (`idle_transaction_timeout` between
statements, `net_read_timeout` in the middle of one, `max_statement_time` inside one; set per
session in `connect`), so the server itself ends a frozen holder's session, at most twice the
statement timeout after it froze: 60 s by default. A taker does not wait that long when the store
account may see other sessions' transactions (the PROCESS privilege): it first asks for the row
lock without waiting (`FOR UPDATE NOWAIT`); when the row is locked, it waits for it as before,
and meanwhile a second session of the store looks, every `LOCK_PATIENCE_MS`, for the transaction
the waiter is blocked by (information_schema.INNODB_LOCK_WAITS and INNODB_TRX: the rows name the
blocking transaction and its connection id) and ends that connection (`KILL CONNECTION`: its
transaction rolls back, as fencing wants of it) only when, at that moment,

* the lease as last committed has expired and is held by someone else, and
* the blocking connection is running no statement (`COMMAND = 'Sleep'` in
  information_schema.PROCESSLIST) and has not for `FROZEN_IDLE_MS`: a live holder's store
  transaction never waits on anything between its statements (no transaction awaits a call),
  so one idle that long inside a transaction on an expired lease has stopped, not slowed down.

A holder busy in a statement, or one whose lease is live, is waited for, never ended. Without
PROCESS the look-up is refused (error 1227): the taker logs that once per wait and waits for the
server, as before. Ending the connection of another MariaDB account needs CONNECTION ADMIN (or
SUPER); every daemon of one store normally uses the same account, which may end its own
connections (MariaDB's KILL and INNODB_LOCK_WAITS pages, mariadb.com/docs/server/reference/
sql-statements/administrative-sql-statements/kill and …/information-schema-innodb_lock_waits-table).
The information_schema lock tables are MariaDB's own; it has no performance_schema.data_locks.
The other way considered, each fence writing its `CONNECTION_ID()` into the lease row for a taker
to end, needs no PROCESS but makes the fence (today an UPDATE that changes nothing) a real write
in every transaction, and the id it writes is uncommitted while the holder is frozen: a taker
would have to read it dirty.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Row,
    String,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from connector.errors import LeaseLostError
from connector.state import schema
from connector.state.base import MYSQL_FAMILY, StoreBase, dialect_of
from connector.state.hotpath import hot_path
from connector.state.runpath import run_path

log = logging.getLogger(__name__)

#: How long a taker waits for the row lock before it looks for a frozen holder to end.
LOCK_PATIENCE_MS = 500

#: MariaDB: how long the session holding the lease row must have been idle in its transaction
#: before a taker may end it (besides the lease having expired; see the module).
FROZEN_IDLE_MS = 1000

#: PostgreSQL's "lock_not_available", raised when `lock_timeout` runs out.
_LOCK_NOT_AVAILABLE = "55P03"

#: MariaDB's errors: a lock not granted (NOWAIT, or the wait ran out); no PROCESS privilege; the
#: connection to end belongs to another account; the connection is already gone.
_MYSQL_LOCK_WAIT_TIMEOUT = 1205
_MYSQL_NEEDS_PROCESS = 1227
_MYSQL_NOT_OWNER = 1095
_MYSQL_UNKNOWN_THREAD = 1094

# The session whose open transaction locks the lease row (the row version we can see names that
# transaction in `xmax`), when the lease as last committed has expired and is not ours.
_END_FROZEN_HOLDER = f"""
SELECT pg_terminate_backend(l.pid)
FROM pg_locks AS l JOIN {schema.leases.name} AS s ON l.transactionid = s.xmax
WHERE s.name = :name AND s.holder <> :holder AND s.expires_at <= :now
  AND l.locktype = 'transactionid' AND l.granted AND l.pid <> pg_backend_pid()
"""


_LEASE_ROW = f"SELECT holder, expires_at, token FROM {schema.leases.name} WHERE name = :name"
_LEASE_COLUMNS = dict(holder=String, expires_at=schema.UtcDateTime, token=Integer)

# MariaDB: the lease row, read and locked if nobody holds its lock; else error 1205 at once.
_TRY_LOCK_LEASE_ROW = text(f"{_LEASE_ROW} FOR UPDATE NOWAIT").columns(**_LEASE_COLUMNS)

# MariaDB: the lease row, read and locked; the wait for its lock outlasts the server's end of
# a frozen holder's idle transaction (see the module), the statement's own limit with it.
_LOCK_LEASE_ROW = text(
    "SET STATEMENT max_statement_time = @@idle_transaction_timeout + 1, "
    f"innodb_lock_wait_timeout = @@idle_transaction_timeout + 1 FOR {_LEASE_ROW} FOR UPDATE"
).columns(**_LEASE_COLUMNS)

# MariaDB: the connection whose transaction the session `waiter` waits for, if it has sat idle
# in that transaction for `idle_ms` and the lease as last committed (a plain read: READ
# COMMITTED, no lock) has expired and is not `holder`'s. The information_schema lock tables
# need the PROCESS privilege.
_FROZEN_MYSQL_HOLDER = text(f"""
SELECT DISTINCT b.trx_mysql_thread_id
FROM information_schema.INNODB_LOCK_WAITS AS w
JOIN information_schema.INNODB_TRX AS r ON r.trx_id = w.requesting_trx_id
JOIN information_schema.INNODB_TRX AS b ON b.trx_id = w.blocking_trx_id
JOIN information_schema.PROCESSLIST AS p ON p.ID = b.trx_mysql_thread_id
WHERE r.trx_mysql_thread_id = :waiter AND p.COMMAND = 'Sleep' AND p.TIME_MS >= :idle_ms
  AND EXISTS (
    SELECT 1 FROM {schema.leases.name} AS s
    WHERE s.name = :name AND s.holder <> :holder AND s.expires_at <= :now
  )
""").bindparams(bindparam("now", type_=schema.UtcDateTime))


#: What `take_lease` runs in its transaction once the lease is taken (see there).
Then = Callable[[Connection, "Lease"], None]


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as taken: its name, our holder id and the fencing token we got."""

    name: str
    holder: str
    token: int


def fence(conn: Connection, lease: Lease) -> None:
    """Raise `LeaseLostError` unless `lease` is still the current one (and lock its row).

    Expiry alone does not fail the check: while nobody else has taken the lease, no one else
    has written either, so a late holder's writes are still the only ones.
    """
    # The statement compiled once (`hotpath`): it starts every transaction of a run.
    fence_statement = hot_path(conn.dialect).fence
    still_ours = fence_statement.run(
        conn, name=lease.name, holder=lease.holder, token=lease.token
    ).rowcount
    if not still_ours:
        raise LeaseLostError(f"lost the lease {lease.name!r} to another process")


class LeaseStore(StoreBase):
    """Taking, renewing, releasing and reading leases (each call its own transaction)."""

    def take_lease(
        self, name: str, holder: str, ttl: dt.timedelta, then: Then | None = None
    ) -> Lease | None:
        """Take (or renew) `name` unless another holder's lease is live; None when it is.

        `then`, if given, runs in the same transaction once the lease is taken (its row locked
        until the commit): what it writes commits with the lease or not at all.
        """
        if self.engine.dialect.name in MYSQL_FAMILY:
            return self._take_lease_locking(name, holder, ttl, then)
        if self.engine.dialect.name != "postgresql":
            return self._take_lease(name, holder, ttl, then, lock_patience_ms=None)
        try:
            return self._take_lease(name, holder, ttl, then, lock_patience_ms=LOCK_PATIENCE_MS)
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
        self._end_frozen_holder(name, holder)
        return self._take_lease(name, holder, ttl, then, lock_patience_ms=None)

    def _end_frozen_holder(self, name: str, holder: str) -> None:
        with self.engine.begin() as conn:
            ended = conn.execute(
                text(_END_FROZEN_HOLDER), {"name": name, "holder": holder, "now": self.clock()}
            ).all()
        if ended:
            log.warning(
                "ended the session of a frozen lease holder",
                extra={"lease": name, "sessions": len(ended)},
            )

    def _take_lease(
        self,
        name: str,
        holder: str,
        ttl: dt.timedelta,
        then: Then | None,
        *,
        lock_patience_ms: int | None,
    ) -> Lease | None:
        table = schema.leases
        now = self.clock()
        with self.engine.begin() as conn:
            if lock_patience_ms is not None:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_patience_ms):d}")
            path = run_path(conn.dialect)
            assert path.take_lease is not None
            to_db = path.hot.datetime_to_db
            token = path.take_lease.run(
                conn, name=name, holder=holder, now=to_db(now), expires=to_db(now + ttl)
            ).scalar_one_or_none()
            if token is None:
                dialect = dialect_of(conn.dialect.name)
                token = conn.execute(
                    dialect.insert(table)
                    .values(
                        name=name, holder=holder, acquired_at=now, expires_at=now + ttl, token=1
                    )
                    .on_conflict_do_nothing(index_elements=["name"])
                    .returning(table.c.token)
                ).scalar_one_or_none()
            if token is None:
                return None
            lease = Lease(name, holder, int(token))
            if then is not None:
                then(conn, lease)
        return lease

    def _take_lease_locking(
        self, name: str, holder: str, ttl: dt.timedelta, then: Then | None
    ) -> Lease | None:
        """`take_lease` on MariaDB: a locking read, the decision here, then one write."""
        table = schema.leases
        now = self.clock()
        with self.engine.begin() as conn:
            try:
                row = conn.execute(_TRY_LOCK_LEASE_ROW, {"name": name}).first()
            except OperationalError as error:
                # Only this statement failed (innodb_rollback_on_timeout is off by default):
                # the transaction goes on, and waits for the lock while its holder is watched.
                if _mysql_code(error) != _MYSQL_LOCK_WAIT_TIMEOUT:
                    raise
                row = self._wait_for_lease_row(conn, name, holder)
                now = self.clock()  # the wait may have been long: decide on the time after it
            if row is None:
                values = dict(name=name, holder=holder, acquired_at=now, expires_at=now + ttl)
                try:
                    conn.execute(insert(table).values(**values, token=1))
                except IntegrityError:
                    return None  # another process inserted it first: its lease is live
                lease = Lease(name, holder, 1)
            elif row.holder != holder and row.expires_at > now:
                return None
            else:
                token = int(row.token) if row.holder == holder else int(row.token) + 1
                conn.execute(
                    update(table)
                    .where(table.c.name == name)
                    .values(holder=holder, acquired_at=now, expires_at=now + ttl, token=token)
                )
                lease = Lease(name, holder, token)
            if then is not None:
                then(conn, lease)
        return lease

    def _wait_for_lease_row(self, conn: Connection, name: str, holder: str) -> Row[Any] | None:
        """The lease row, locked once its holder lets go or, if it froze, has been ended."""
        waiter = int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())
        locked = threading.Event()
        watch = threading.Thread(
            target=self._end_frozen_mysql_holder,
            args=(name, holder, waiter, locked),
            name=f"lease-watch-{waiter}",
            daemon=True,
        )
        watch.start()
        try:
            return conn.execute(_LOCK_LEASE_ROW, {"name": name}).first()
        finally:
            locked.set()
            watch.join()

    def _end_frozen_mysql_holder(
        self, name: str, holder: str, waiter: int, locked: threading.Event
    ) -> None:
        """Until `locked` is set: end the connection the session `waiter` waits for, if it is a
        frozen holder of an expired lease (see the module). Runs in its own thread."""
        while not locked.wait(LOCK_PATIENCE_MS / 1000):
            try:
                with self.engine.begin() as conn:
                    frozen = conn.execute(
                        _FROZEN_MYSQL_HOLDER,
                        {
                            "waiter": waiter,
                            "idle_ms": FROZEN_IDLE_MS,
                            "name": name,
                            "holder": holder,
                            "now": self.clock(),
                        },
                    ).scalars()
                    for connection_id in frozen:
                        conn.execute(text(f"KILL CONNECTION {int(connection_id):d}"))
                        log.warning(
                            "ended the session of a frozen lease holder",
                            extra={"lease": name, "connection_id": int(connection_id)},
                        )
            except DBAPIError as error:
                code = _mysql_code(error)
                if code == _MYSQL_UNKNOWN_THREAD:
                    continue  # it ended by itself meanwhile
                reason = {
                    _MYSQL_NEEDS_PROCESS: "the store's account lacks the PROCESS privilege",
                    _MYSQL_NOT_OWNER: "the holder's connection is another account's "
                    "(ending it needs CONNECTION ADMIN)",
                }.get(code or 0, type(error).__name__)
                log.warning(
                    "waiting for the server to end a frozen lease holder's transaction",
                    extra={"lease": name, "reason": reason},
                )
                return
            except Exception as error:  # a watcher must never fail the wait it watches
                log.warning(
                    "could not look for a frozen lease holder",
                    extra={"lease": name, "error": type(error).__name__},
                )
                return

    def acquire_lease(self, name: str, holder: str, ttl: dt.timedelta) -> bool:
        """Take or renew the lease `name` unless another holder's lease is still live."""
        return self.take_lease(name, holder, ttl) is not None

    def renew_lease(self, lease: Lease, ttl: dt.timedelta, *, run_id: int | None = None) -> bool:
        """Extend `lease` if it is still ours (same token); also the heartbeat of run `run_id`."""
        table = schema.leases
        now = self.clock()
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(table)
                .where(table.c.name == lease.name, table.c.holder == lease.holder)
                .where(table.c.token == lease.token)
                .values(expires_at=now + ttl)
            ).rowcount
            if renewed and run_id is not None:
                runs = schema.runs
                conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat_at=now))
        return bool(renewed)

    def release_lease(self, name: str, holder: str) -> None:
        """Let go of `name` if we hold it: it expires now (the row and its token stay)."""
        with self.engine.begin() as conn:
            release_in(conn, name, holder, self.clock())

    def lease_holder(self, name: str) -> str | None:
        table = schema.leases
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.holder, table.c.expires_at).where(table.c.name == name)
            ).first()
        if row is None or row.expires_at <= self.clock():
            return None
        return str(row.holder)


def release_in(conn: Connection, name: str, holder: str, now: dt.datetime) -> None:
    """`release_lease` in the transaction of `conn`."""
    path = run_path(conn.dialect)
    path.release_lease.run(conn, name=name, holder=holder, now=path.hot.datetime_to_db(now))


def _mysql_code(error: DBAPIError) -> int | None:
    """PyMySQL's error number (its first argument), or None for another driver's error."""
    args = getattr(error.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
