"""What `connector status` reads from a SQLite store, through the standard library's sqlite3.

Importing SQLAlchemy was a third of `connector status`'s start-up (bench/cli_startup.py), and
status only counts and lists rows: the cursors, pending failures per entity and per route, the
last runs and the inbox's depth. So when the store is a SQLite file that exists and whose
migrations are current, status reads it here, read-only (`mode=ro`: status never creates,
migrates or writes a store). Anything else — PostgreSQL, a missing file, pending migrations,
a URL with options, any sqlite3 error — returns None, and status opens the real store, which
creates, migrates and explains problems as every other command does.

The five queries mirror the store's own (`connector.state.cursors`, `runs`, `failures`,
`inbox`) and decode values as its column types do (SQLAlchemy keeps SQLite datetimes as
naive UTC text, JSON as text, booleans as 0/1). tests/cli/test_status_peek.py fills a store
through `StateStore` and requires both to return the same values, so the two cannot drift.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The store's status strings these queries filter on (`FailureStatus.PENDING`, the inbox's
#: unfinished states, `RunStatus.ABANDONED`); the test above holds them equal to the store's.
PENDING = "pending"
INBOX_WAITING = ("pending", "processing")
ABANDONED = "abandoned"

#: A plain SQLite file URL, as SQLAlchemy reads it: three slashes, then a path (a fourth slash
#: makes it absolute). Anything fancier (`?` options, `%` escapes, memory) takes the real store.
_SQLITE_URL = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?#%]+)")
#: Where the store is when `state.url` is empty (`connector.state.store.database_url`).
DEFAULT_FILE = "connector-state.db"


@dataclass(frozen=True, slots=True)
class RunRow:
    """One `runs` row, with the fields of `connector.state.runs.Run`."""

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


@dataclass
class OutlookRow:
    """Pending failures of one route, as `connector.state.failures.RetryOutlook`."""

    retrying: int = 0
    next_retry_at: dt.datetime | None = None
    for_a_person: int = 0


def sqlite_path(url: str | None, base_dir: Path) -> Path | None:
    """The file of a plain SQLite state URL (relative to `base_dir`); None for anything else."""
    if not url:
        return base_dir / DEFAULT_FILE
    match = _SQLITE_URL.fullmatch(url)
    if match is None or match["path"] == ":memory:":
        return None
    path = Path(match["path"])
    return path if path.is_absolute() else base_dir / path


def _utc(value: str | None) -> dt.datetime | None:
    """A datetime column as `UtcDateTime` returns it: stored naive in UTC, handed back aware."""
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _utc_set(value: str) -> dt.datetime:
    parsed = _utc(value)
    assert parsed is not None  # a NOT NULL column
    return parsed


def _json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _run(
    run_id: int,
    route: str,
    trigger: str,
    status: str,
    started: str,
    finished: str | None,
    counts: str | None,
    error: str | None,
    holder: str | None,
    heartbeat: str | None,
) -> RunRow:
    """A `runs` row (in the column order `last_runs` selects) as the store returns it."""
    return RunRow(
        id=int(run_id),
        route=route,
        trigger=trigger,
        status=status,
        started_at=_utc_set(started),
        finished_at=_utc(finished),
        counts=_json(counts),
        error=error,
        holder=holder,
        heartbeat_at=_utc(heartbeat),
    )


@dataclass
class StorePeek:
    """Read-only queries on one open SQLite store; `close()` when done."""

    connection: sqlite3.Connection

    def cursors(self) -> dict[tuple[str, str], dt.datetime | None]:
        rows = self.connection.execute("SELECT route, entity, watermark FROM cursors")
        return {(route, entity): _utc(watermark) for route, entity, watermark in rows}

    def count_failures_by_entity(self) -> dict[tuple[str, str], int]:
        rows = self.connection.execute(
            "SELECT route, entity, count(*) FROM failures WHERE status = ? GROUP BY route, entity",
            (PENDING,),
        )
        return {(route, entity): int(count) for route, entity, count in rows}

    def last_runs(self, limit: int) -> list[RunRow]:
        rows = self.connection.execute(
            "SELECT id, route, trigger, status, started_at, finished_at, counts, error, holder, "
            "heartbeat_at FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_run(*row) for row in rows]

    def retry_outlook(self, max_attempts: int) -> dict[str, OutlookRow]:
        # Text datetimes in one fixed format sort as the times do, so min() is the earliest.
        rows = self.connection.execute(
            "SELECT route, (retryable = 1 AND attempts < ?) AS automatic, count(*), "
            "min(next_retry_at), count(CASE WHEN next_retry_at IS NULL THEN 1 END) "
            "FROM failures WHERE status = ? GROUP BY route, automatic",
            (max_attempts, PENDING),
        )
        outlook: dict[str, OutlookRow] = {}
        for route, automatic, pending, next_at, due_now in rows:
            entry = outlook.setdefault(route, OutlookRow())
            if automatic:
                entry.retrying = int(pending)
                entry.next_retry_at = None if due_now else _utc(next_at)
            else:
                entry.for_a_person = int(pending)
        return outlook

    def inbox_depth(self) -> int:
        marks = ", ".join("?" * len(INBOX_WAITING))
        query = f"SELECT count(*) FROM inbox WHERE status IN ({marks})"
        return int(self.connection.execute(query, INBOX_WAITING).fetchone()[0])

    def close(self) -> None:
        self.connection.close()


def peek_store(url: str | None, base_dir: Path, busy_seconds: float) -> StorePeek | None:
    """The store at `url` opened read-only, if it is an existing, current SQLite file; else None.

    `busy_seconds` bounds the wait for another process's write, as the store's busy timeout.
    """
    from connector.state.migrate import head_revisions

    path = sqlite_path(url, base_dir)
    if path is None or not path.is_file():
        return None
    try:
        connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=busy_seconds
        )
    except sqlite3.Error:
        return None
    try:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        connection.close()
        return None
    if frozenset(str(row[0]) for row in rows) != head_revisions():
        connection.close()
        return None
    return StorePeek(connection)
