"""Keeping PostgreSQL's picture of `bindings` current after the table grew a lot.

PostgreSQL plans from statistics that only ANALYZE gathers; autovacuum runs it once the rows
changed since the last one pass 50 + 10 % of the table (`autovacuum_analyze_threshold`,
`autovacuum_analyze_scale_factor`), and looks at most once a minute (`autovacuum_naptime`), or
never where autovacuum is off. A first sync fills `bindings` in minutes from nothing, and until
the table is analysed the planner knows none of its columns: it reads a page's bindings by
walking every index entry of the entity and system and filtering `key = ANY(...)` instead of
looking up each key: 130-360 ms for a page of 1,000 at 100,000 customers, 26-50 ms once
analysed (bench/README.md, "pgstore2").
postgresql.org/docs/current/routine-vacuuming.html#VACUUM-FOR-STATISTICS

So the store counts the binding rows it writes (inserted or updated: an upper bound on the
growth), and when they reach as many as the planner last counted in the table (`reltuples`;
-1 for a table never analysed), at least `FLOOR`, it analyses the columns its lookups filter on
itself: the table may have doubled since the planner looked. That is once for an empty table's
first thousand rows, then at every doubling (about log2(N/1,000) times for a first sync of N
rows), and once per as many rewrites as the table has rows after that. ANALYZE reads a sample
of at most 300 times `default_statistics_target` rows (postgresql.org/docs/current/
sql-analyze.html), so its cost stops growing with the table: at 200,000 bindings (212 MB, a
third of it dead rows) 250 ms of the server's time here, 415 ms with every column; the
client's CPU nothing. It takes a lock that only VACUUM, ANALYZE and DDL wait for; if one of
those holds it (autovacuum analysing the table just now), the store does not wait
(`lock_timeout`) and looks again after `FLOOR` more rows. A role that does not own the table
gets a warning from PostgreSQL and no statistics, never an error. The counter is this
process's: another process's writes are counted by that process.

MariaDB is left as it is: InnoDB recalculates a table's persistent statistics itself, in the
background, once 10 % of it changed (`innodb_stats_auto_recalc`), and a page read is planned
as one lookup in the unique key's index per id (`eq_ref`) whatever they say (EXPLAIN right
after 100,000 binds: 12 ms a page of 1,000). SQLite's planner assumes an index is selective
where it has no `sqlite_stat1`, which is what the store's lookups need.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, Engine, exc

log = logging.getLogger(__name__)

_PLANNER_COUNT = "SELECT reltuples FROM pg_class WHERE oid = to_regclass('bindings')"


class BindingStatistics:
    """When a PostgreSQL store analyses `bindings` (one per store, shared by its fenced views)."""

    #: Below this many rows written, no look: a plan without statistics is quick on a small table.
    FLOOR = 1_000

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._written = 0  # binding rows written since this process last analysed them
        self._next_look = self.FLOOR  # how many written when to look at the planner's count
        self._looking = False

    def wrote(self, rows: int) -> None:
        """Count `rows` binding rows written by a committed transaction; analyse if due."""
        if rows <= 0 or self._engine.dialect.name != "postgresql":
            return
        with self._lock:
            self._written += rows
            if self._written < self._next_look or self._looking:
                return
            self._looking = True
            written = self._written
        outcome = None
        try:
            outcome = self._look(written)
        finally:
            with self._lock:
                self._looking = False
                if outcome is None:  # could not look: again after as many rows more
                    self._next_look = written + self.FLOOR
                else:
                    analysed, counted = outcome
                    if analysed:
                        self._written -= written
                    self._next_look = max(self.FLOOR, int(counted))

    def _look(self, written: int) -> tuple[bool, float] | None:
        """ANALYZE if `written` reaches the planner's count; (whether it did, the planner's
        count after), or None if the store would not say."""
        try:
            with self._engine.begin() as conn:
                counted = _planner_count(conn)
                if counted >= 0 and written < max(self.FLOOR, counted):
                    return False, counted
                # Never wait behind autovacuum (or another process) analysing it right now.
                conn.exec_driver_sql("SET LOCAL lock_timeout = 200")
                # The columns the store looks bindings up by (not the snapshots: 40 % less work).
                conn.exec_driver_sql("ANALYZE bindings (entity, key, system, external_id)")
                counted = _planner_count(conn)
        except exc.SQLAlchemyError as error:  # busy, not answering, no free connection
            # The transaction is committed: this is not its error.
            log.info("the state store did not analyse its bindings: %s", error)
            return None
        log.info("the state store analysed its bindings: %d rows written, %d now", written, counted)
        return True, counted


def _planner_count(conn: Connection) -> float:
    """The planner's row count of `bindings` (-1: never analysed or vacuumed)."""
    found = conn.exec_driver_sql(_PLANNER_COUNT).scalar()
    return -1.0 if found is None else float(found)
