"""The statements every run executes once, whatever it carries: compiled once per database.

A run that finds nothing to do still takes its route's lease, looks for runs a dead process
left `running`, records itself, reads its cursor and the records awaiting the target, records
its outcome and lets go of the lease. Through SQLAlchemy Core each of those statements is
compiled again by every new engine (the compiled cache belongs to the engine:
docs.sqlalchemy.org/en/20/core/connections.html#sql-compilation-caching) and, on every
execution, given a cache key and its parameters processed one by one. The abandoned-runs look-up
(one column, two conditions) cost 1.3 ms of CPU on a fresh engine, 0.1 ms on a warm one, and
0.02 ms as text run by the driver (SQLite, 2026-12-06). bench/engine.py opens a runtime, so an
engine, for each run it measures; a daemon keeps its engine, and paid the warm figure.

Here, as in `hotpath` (whose positional dialect and `Statement` these share), the compiler
writes each statement once per dialect class and `exec_driver_sql` runs it with the values
as the driver takes them: datetimes through `HotPath.datetime_to_db`, the run's counts as
JSON text (`json_to_db`). The rarer statements (the first take of a lease, marking runs
abandoned, MariaDB's locking take) stay Core's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Dialect, Integer, bindparam, case, literal_column, select, update
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from connector.state import schema
from connector.state.hotpath import HotPath, Statement, hot_path


def _compile(dialect: Dialect, statement: ClauseElement) -> Statement:
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    return Statement(compiled.string, tuple(compiled.positiontup or ()))


class RunPath:
    """The fixed statements of a run on one dialect (see the module)."""

    def __init__(self, hot: HotPath) -> None:
        dialect = hot.dialect
        self.hot = hot
        utc = schema.UtcDateTime()
        leases, runs = schema.leases, schema.runs
        now = bindparam("now", type_=utc)
        take = (
            update(leases)
            .where(leases.c.name == bindparam("name"))
            .where((leases.c.holder == bindparam("holder")) | (leases.c.expires_at <= now))
            .values(
                holder=bindparam("holder"),
                acquired_at=now,
                expires_at=bindparam("expires", type_=utc),
                # SET expressions read the row as it was: a new holder gets a new token.
                token=case(
                    (leases.c.holder == bindparam("holder"), leases.c.token),
                    else_=leases.c.token + literal_column("1", Integer),
                ),
            )
        )
        #: Take or renew a lease row that is ours or expired, returning its token (not on
        #: MariaDB, which has no UPDATE … RETURNING: see `leases`).
        self.take_lease = (
            None if dialect.name not in ("sqlite", "postgresql") else
            _compile(dialect, take.returning(leases.c.token))
        )  # fmt: skip
        #: Let go of a lease we hold: it expires now.
        self.release_lease = _compile(
            dialect,
            update(leases)
            .where(
                leases.c.name == bindparam("name"),
                leases.c.holder == bindparam("holder"),
                leases.c.expires_at > now,
            )
            .values(expires_at=now),
        )
        #: The ids of a route's runs still `running` (normally none: then nothing to mark).
        self.running_runs = _compile(
            dialect,
            select(runs.c.id).where(
                runs.c.route == bindparam("route"), runs.c.status == bindparam("status")
            ),
        )
        start = runs.insert().values(
            route=bindparam("route"),
            trigger=bindparam("trigger"),
            status=bindparam("status"),
            started_at=now,
            holder=bindparam("holder"),
            heartbeat_at=now,
        )
        #: Record a run; PostgreSQL returns its id, the others give it as the cursor's lastrowid.
        self.returns_run_id = dialect.name == "postgresql"
        self.start_run = _compile(
            dialect, start.returning(runs.c.id) if self.returns_run_id else start
        )
        #: Record a run's outcome.
        self.finish_run = _compile(
            dialect,
            update(runs)
            .where(runs.c.id == bindparam("run_id"))
            .values(
                status=bindparam("status"),
                finished_at=now,
                counts=bindparam("counts", type_=runs.c.counts.type),
                error=bindparam("error"),
            ),
        )
        cursors = schema.cursors
        #: A route's cursor for one entity.
        self.cursor = _compile(
            dialect,
            select(cursors.c.watermark).where(
                cursors.c.route == bindparam("route"), cursors.c.entity == bindparam("entity")
            ),
        )
        failures = schema.failures
        #: The source ids of a route's failures of one entity, status and code, oldest first.
        self.failure_ids = _compile(
            dialect,
            select(failures.c.external_id)
            .where(
                failures.c.route == bindparam("route"),
                failures.c.entity == bindparam("entity"),
                failures.c.status == bindparam("status"),
                failures.c.code == bindparam("code"),
            )
            .order_by(failures.c.id),
        )

    def counts_to_db(self, counts: Mapping[str, Any]) -> Any:
        """A run's counts as the driver takes them for the JSON column (as Core writes JSON)."""
        return self.hot.json_to_db(json.dumps(dict(counts)))


def run_path(dialect: Dialect) -> RunPath:
    """The `RunPath` of `dialect`'s database (built on first use, then kept)."""
    hot = hot_path(dialect)
    found = _RUN_PATHS.get(type(dialect))
    if found is None:
        found = _RUN_PATHS[type(dialect)] = RunPath(hot)
    return found


_RUN_PATHS: dict[type[Dialect], RunPath] = {}
