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

from sqlalchemy import select, update

from connector.state import schema
from connector.state.base import StoreBase


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


class RunStore(StoreBase):
    """Recording and listing runs (each call its own transaction)."""

    def start_run(self, route: str, trigger: str, holder: str | None = None) -> int:
        now = self.clock()
        with self.engine.begin() as conn:
            result = conn.execute(
                schema.runs.insert().values(
                    route=route,
                    trigger=trigger,
                    status=RunStatus.RUNNING,
                    started_at=now,
                    holder=holder,
                    heartbeat_at=now,
                )
            )
            primary_key = result.inserted_primary_key
            assert primary_key is not None
            return int(primary_key[0])

    def finish_run(
        self, run_id: int, status: str, counts: Mapping[str, Any], error: str | None = None
    ) -> None:
        table = schema.runs
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == run_id)
                .values(status=status, finished_at=self.clock(), counts=dict(counts), error=error)
            )

    def abandon_runs(self, route: str) -> list[Run]:
        """Mark the route's `running` runs `abandoned`; call only while holding its lease.

        Whoever holds the route's lease is the only live run of it, so any other `running` row
        belongs to a process that died (or lost the lease and can no longer commit anything).
        """
        table = schema.runs
        now = self.clock()
        with self.engine.begin() as conn:
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

    def last_runs(self, limit: int = 20, route: str | None = None) -> list[Run]:
        table = schema.runs
        query = select(table).order_by(table.c.id.desc()).limit(limit)
        if route is not None:
            query = query.where(table.c.route == route)
        with self.engine.connect() as conn:
            return [Run(**row._mapping) for row in conn.execute(query)]
