"""Runs: one row per route run, with its trigger, status, counts per entity and error.

A run is `running` until it finishes. A process that dies cannot finish its run; the next
process that takes the route's lease marks such rows `abandoned`, saying which process ran it
and when it was last seen (the heartbeat its lease renewals write).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from connector.state import schema
from connector.state.leases import Lease, LeaseStore, release_in
from connector.state.runpath import run_path


class RunStatus:
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    #: Another process took the route's lease; this run committed nothing after that.
    LEASE_LOST = "lease lost"
    #: The state store stopped answering and the run gave up waiting for it.
    STORE_UNAVAILABLE = "store unavailable"
    #: The process died; marked by the next process that took the route.
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    route: str
    trigger: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    counts: dict[str, Any] | None
    error: str | None
    holder: str | None = None
    heartbeat_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class StartedRun:
    """A run begun by `RunStore.begin_run`: the lease it holds, its id (None when not
    recorded: a dry run), and the runs of its route it found `running` and marked abandoned."""

    lease: Lease
    run_id: int | None
    abandoned: list[Run]


class RunStore(LeaseStore):
    """Recording and listing runs (each call its own transaction)."""

    def begin_run(
        self, route: str, trigger: str, holder: str, ttl: dt.timedelta, *, record: bool = True
    ) -> StartedRun | None:
        """Take the route's lease, mark its stale runs abandoned and record this run (unless
        `record` is false), in one transaction; None when another holder's lease is live.

        One commit instead of three, and nothing half done: a run is never recorded without
        the lease, and the lease is never taken by a run that could not record itself.
        """
        begun: list[tuple[int | None, list[Run]]] = []

        def start(conn: Connection, lease: Lease) -> None:
            now = self.clock()
            stale = _abandon_in(conn, route, now)
            run_id = _start_in(conn, route, trigger, holder, now) if record else None
            begun.append((run_id, stale))

        lease = self.take_lease(f"route:{route}", holder, ttl, start)
        if lease is None:
            return None
        run_id, stale = begun[-1]
        return StartedRun(lease, run_id, stale)

    def end_run(
        self,
        run_id: int | None,
        status: str,
        counts: Mapping[str, Any],
        error: str | None,
        lease: Lease,
    ) -> None:
        """Record the outcome of run `run_id` (if recorded) and let go of its lease, in one
        transaction."""
        now = self.clock()
        with self.engine.begin() as conn:
            # The lease row first, as `begin_run` and `renew_lease` lock it before a run's row.
            # A late holder whose clock lags still finds its expired lease its own and waits for
            # a taker's lock on it; holding no run row meanwhile, it lets the taker mark its run
            # abandoned instead of deadlocking with it (tests/state/test_run_lifecycle.py).
            release_in(conn, lease.name, lease.holder, now)
            if run_id is not None:
                _finish_in(conn, run_id, status, counts, error, now)

    def start_run(self, route: str, trigger: str, holder: str | None = None) -> int:
        with self.engine.begin() as conn:
            return _start_in(conn, route, trigger, holder, self.clock())

    def finish_run(
        self, run_id: int, status: str, counts: Mapping[str, Any], error: str | None = None
    ) -> None:
        with self.engine.begin() as conn:
            _finish_in(conn, run_id, status, counts, error, self.clock())

    def abandon_runs(self, route: str) -> list[Run]:
        """Mark the route's `running` runs `abandoned`; call only while holding its lease.

        Whoever holds the route's lease is the only live run of it, so any other `running` row
        belongs to a process that died (or lost the lease and can no longer commit anything).
        """
        with self.engine.begin() as conn:
            return _abandon_in(conn, route, self.clock())

    def last_runs(self, limit: int = 20, route: str | None = None) -> list[Run]:
        table = schema.runs
        query = select(table).order_by(table.c.id.desc()).limit(limit)
        if route is not None:
            query = query.where(table.c.route == route)
        with self.engine.connect() as conn:
            return [Run(**row._mapping) for row in conn.execute(query)]


def _start_in(
    conn: Connection, route: str, trigger: str, holder: str | None, now: dt.datetime
) -> int:
    path = run_path(conn.dialect)
    result = path.start_run.run(
        conn,
        route=route,
        trigger=trigger,
        status=RunStatus.RUNNING,
        now=path.hot.datetime_to_db(now),
        holder=holder,
    )
    run_id = result.scalar_one() if path.returns_run_id else result.lastrowid
    assert run_id is not None
    return int(run_id)


def _finish_in(
    conn: Connection,
    run_id: int,
    status: str,
    counts: Mapping[str, Any],
    error: str | None,
    now: dt.datetime,
) -> None:
    path = run_path(conn.dialect)
    path.finish_run.run(
        conn,
        run_id=run_id,
        status=status,
        now=path.hot.datetime_to_db(now),
        counts=path.counts_to_db(counts),
        error=error,
    )


def _abandon_in(conn: Connection, route: str, now: dt.datetime) -> list[Run]:
    """`abandon_runs` in the transaction of `conn`. Almost always there is none: one look at
    the ids first, the rows read and updated only when there are some."""
    path = run_path(conn.dialect)
    if path.running_runs.run(conn, route=route, status=RunStatus.RUNNING).first() is None:
        return []
    table = schema.runs
    stale = [
        Run(**row._mapping)
        for row in conn.execute(
            select(table).where(table.c.route == route, table.c.status == RunStatus.RUNNING)
        )
    ]
    for run in stale:
        seen = (run.heartbeat_at or run.started_at).isoformat(timespec="seconds")
        who = run.holder or "an unknown process"
        conn.execute(
            update(table)
            .where(table.c.id == run.id, table.c.status == RunStatus.RUNNING)
            .values(
                status=RunStatus.ABANDONED,
                finished_at=now,
                error=f"{who} stopped without finishing the run; last seen {seen}",
            )
        )
    return stale
