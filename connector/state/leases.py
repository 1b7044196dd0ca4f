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
statement timeout after it froze. A taker there waits for the lock a second longer than that
(`_LOCK_LEASE_ROW`) instead of ending the session itself: finding which session holds a row
lock needs the PROCESS privilege on MariaDB (information_schema.INNODB_LOCK_WAITS), which a
store's account should not need.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Connection, Integer, String, case, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from connector.errors import LeaseLostError
from connector.state import schema
from connector.state.base import MYSQL_FAMILY, StoreBase, dialect_of
from connector.state.hotpath import hot_path

log = logging.getLogger(__name__)

#: How long a taker waits for the row lock before it looks for a frozen holder to end.
LOCK_PATIENCE_MS = 500

#: PostgreSQL's "lock_not_available", raised when `lock_timeout` runs out.
_LOCK_NOT_AVAILABLE = "55P03"

# The session whose open transaction locks the lease row (the row version we can see names that
# transaction in `xmax`), when the lease as last committed has expired and is not ours.
_END_FROZEN_HOLDER = f"""
SELECT pg_terminate_backend(l.pid)
FROM pg_locks AS l JOIN {schema.leases.name} AS s ON l.transactionid = s.xmax
WHERE s.name = :name AND s.holder <> :holder AND s.expires_at <= :now
  AND l.locktype = 'transactionid' AND l.granted AND l.pid <> pg_backend_pid()
"""


# MariaDB: the lease row, read and locked; the wait for its lock outlasts the server's end of
# a frozen holder's idle transaction (see the module), the statement's own limit with it.
_LOCK_LEASE_ROW = text(
    "SET STATEMENT max_statement_time = @@idle_transaction_timeout + 1, "
    "innodb_lock_wait_timeout = @@idle_transaction_timeout + 1 FOR "
    f"SELECT holder, expires_at, token FROM {schema.leases.name} WHERE name = :name FOR UPDATE"
).columns(holder=String, expires_at=schema.UtcDateTime, token=Integer)


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

    def take_lease(self, name: str, holder: str, ttl: dt.timedelta) -> Lease | None:
        """Take (or renew) `name` unless another holder's lease is live; None when it is."""
        if self.engine.dialect.name in MYSQL_FAMILY:
            return self._take_lease_locking(name, holder, ttl)
        if self.engine.dialect.name != "postgresql":
            return self._take_lease(name, holder, ttl, lock_patience_ms=None)
        try:
            return self._take_lease(name, holder, ttl, lock_patience_ms=LOCK_PATIENCE_MS)
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
        self._end_frozen_holder(name, holder)
        return self._take_lease(name, holder, ttl, lock_patience_ms=None)

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
        self, name: str, holder: str, ttl: dt.timedelta, *, lock_patience_ms: int | None
    ) -> Lease | None:
        table = schema.leases
        now = self.clock()
        with self.engine.begin() as conn:
            if lock_patience_ms is not None:
                conn.execute(text(f"SET LOCAL lock_timeout = {int(lock_patience_ms):d}"))
            token = conn.execute(
                update(table)
                .where(table.c.name == name)
                .where((table.c.holder == holder) | (table.c.expires_at <= now))
                .values(
                    holder=holder,
                    acquired_at=now,
                    expires_at=now + ttl,
                    # SET expressions read the row as it was: a new holder gets a new token.
                    token=case((table.c.holder == holder, table.c.token), else_=table.c.token + 1),
                )
                .returning(table.c.token)
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
        return None if token is None else Lease(name, holder, int(token))

    def _take_lease_locking(self, name: str, holder: str, ttl: dt.timedelta) -> Lease | None:
        """`take_lease` on MariaDB: a locking read, the decision here, then one write."""
        table = schema.leases
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(_LOCK_LEASE_ROW, {"name": name}).first()
            if row is None:
                values = dict(name=name, holder=holder, acquired_at=now, expires_at=now + ttl)
                try:
                    conn.execute(insert(table).values(**values, token=1))
                except IntegrityError:
                    return None  # another process inserted it first: its lease is live
                return Lease(name, holder, 1)
            if row.holder != holder and row.expires_at > now:
                return None
            token = int(row.token) if row.holder == holder else int(row.token) + 1
            conn.execute(
                update(table)
                .where(table.c.name == name)
                .values(holder=holder, acquired_at=now, expires_at=now + ttl, token=token)
            )
        return Lease(name, holder, token)

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
        table = schema.leases
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.name == name, table.c.holder == holder, table.c.expires_at > now)
                .values(expires_at=now)
            )

    def lease_holder(self, name: str) -> str | None:
        table = schema.leases
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.holder, table.c.expires_at).where(table.c.name == name)
            ).first()
        if row is None or row.expires_at <= self.clock():
            return None
        return str(row.holder)
