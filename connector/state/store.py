"""`StateStore`: the durable memory of the sync, behind one small API.

Everything the engine, the daemon and the CLI remember goes through here, in short transactions.
Reads are plain methods; writes that must land together (a batch's bindings, its failures and the
cursor after it) go through `transaction()`, which yields a `StoreTx`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, delete, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from connector.state import schema
from connector.state.migrate import is_current, upgrade

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def snapshot_hash(snapshot: Mapping[str, Any]) -> str:
    """A stable fingerprint of flattened canonical values (order-independent).

    `repr` of the sorted items, not JSON: the values are already JSON-safe primitives, lists and
    key-sorted dicts (see `connector.model.flatten`), and this runs twice per synced record.
    """
    return hashlib.sha256(repr(sorted(snapshot.items())).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Binding:
    entity: str
    key: str
    system: str
    external_id: str
    snapshot: dict[str, Any] | None
    hash: str | None
    remote_updated_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Failure:
    id: int
    route: str
    entity: str
    external_id: str
    key: str | None
    stage: str
    error_class: str
    code: str | None
    message: str
    payload: dict[str, Any] | None
    retryable: bool
    attempts: int
    status: str
    next_retry_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


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


@dataclass(frozen=True, slots=True)
class InboxEvent:
    id: int
    source: str
    event_id: str
    entity: str
    external_id: str
    deleted: bool
    occurred_at: dt.datetime | None
    attempts: int


class FailureStatus:
    PENDING = "pending"
    RESOLVED = "resolved"
    DISCARDED = "discarded"


def _upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    update_columns: Iterable[str],
) -> None:
    """INSERT … ON CONFLICT DO UPDATE for many rows of the same columns, in one executemany.

    The statement is built once per call: SQLAlchemy cannot cache the dialects' ON CONFLICT
    constructs, so compiling one per row cost milliseconds per record.
    """
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    changes = {column: statement.excluded[column] for column in update_columns}
    conn.execute(
        statement.on_conflict_do_update(index_elements=list(conflict), set_=changes),
        list(rows),
    )


class StoreTx:
    """The writes of one transaction. Obtained from `StateStore.transaction()`."""

    def __init__(self, conn: Connection, now: dt.datetime) -> None:
        self._conn = conn
        self.now = now
        # Binds and resolutions are gathered and written in bulk (see `flush`).
        self._binds: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self._resolved: dict[tuple[str, str], set[str]] = {}

    def flush(self) -> None:
        """Write the gathered binds and resolutions; every other write flushes first."""
        binds, self._binds = self._binds, {}
        for updates, rows in binds.items():
            _upsert(self._conn, schema.bindings, rows, ("entity", "key", "system"), updates)
        resolved, self._resolved = self._resolved, {}
        table = schema.failures
        for (route, entity), external_ids in resolved.items():
            for chunk in _chunks(sorted(external_ids)):
                self._conn.execute(
                    update(table)
                    .where(
                        table.c.route == route,
                        table.c.entity == entity,
                        table.c.external_id.in_(chunk),
                        table.c.status == FailureStatus.PENDING,
                    )
                    .values(status=FailureStatus.RESOLVED, updated_at=self.now)
                )

    def bind(
        self,
        entity: str,
        key: str,
        system: str,
        external_id: str,
        *,
        snapshot: Mapping[str, Any] | None = None,
        remote_updated_at: dt.datetime | None = None,
    ) -> None:
        """Bind `key` to `external_id` in `system`, recording what was last synced there."""
        values: dict[str, Any] = {
            "entity": entity,
            "key": key,
            "system": system,
            "external_id": external_id,
        }
        updates = ["external_id"]
        if snapshot is not None:
            values.update(snapshot=dict(snapshot), hash=snapshot_hash(snapshot), synced_at=self.now)
            updates += ["snapshot", "hash", "synced_at"]
        if remote_updated_at is not None:
            values["remote_updated_at"] = remote_updated_at
            updates.append("remote_updated_at")
        self._binds.setdefault(tuple(updates), []).append(values)

    def unbind(self, entity: str, key: str, system: str) -> None:
        self.flush()
        table = schema.bindings
        self._conn.execute(
            delete(table).where(
                table.c.entity == entity, table.c.key == key, table.c.system == system
            )
        )

    def set_cursor(self, route: str, entity: str, watermark: dt.datetime | None) -> None:
        self.flush()
        values = {"route": route, "entity": entity, "watermark": watermark, "updated_at": self.now}
        _upsert(
            self._conn, schema.cursors, [values], ("route", "entity"), ("watermark", "updated_at")
        )

    def record_failure(
        self,
        route: str,
        entity: str,
        external_id: str,
        *,
        key: str | None,
        stage: str,
        error: BaseException,
        payload: Mapping[str, Any] | None,
        retryable: bool,
        next_retry_at: dt.datetime | None = None,
    ) -> None:
        """Put a record in `failures`, or count one more attempt if it is there already."""
        self.flush()
        table = schema.failures
        values = {
            "route": route,
            "entity": entity,
            "external_id": external_id,
            "key": key,
            "stage": stage,
            "error_class": type(error).__name__,
            "code": getattr(error, "code", None),
            "message": str(error) or type(error).__name__,
            "payload": _json_safe(payload),
            "retryable": retryable,
            "attempts": 1,
            "status": FailureStatus.PENDING,
            "next_retry_at": next_retry_at,
            "created_at": self.now,
            "updated_at": self.now,
        }
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(**values)
        changes = {
            column: statement.excluded[column]
            for column in (
                "key",
                "stage",
                "error_class",
                "code",
                "message",
                "payload",
                "retryable",
                "status",
                "next_retry_at",
                "updated_at",
            )
        }
        changes["attempts"] = table.c.attempts + 1
        self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["route", "entity", "external_id"], set_=changes
            )
        )

    def resolve_failure(self, route: str, entity: str, external_id: str) -> None:
        """Mark the record's pending failure resolved (it synced)."""
        self._resolved.setdefault((route, entity), set()).add(external_id)


def _json_safe(payload: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    result: dict[str, Any] = json.loads(json.dumps(payload, default=str))
    return result


class StateStore:
    """The sync-state store on one database (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    # -- lifecycle -------------------------------------------------------------------------

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

    # -- bindings --------------------------------------------------------------------------

    def keys_for(self, entity: str, system: str, external_ids: Iterable[str]) -> dict[str, str]:
        """external id → canonical key, for the ids that are bound in `system`."""
        table = schema.bindings
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(external_ids))):
                rows = conn.execute(
                    select(table.c.external_id, table.c.key).where(
                        table.c.entity == entity,
                        table.c.system == system,
                        table.c.external_id.in_(chunk),
                    )
                )
                found.update({row.external_id: row.key for row in rows})
        return found

    def bindings_for(self, entity: str, system: str, keys: Iterable[str]) -> dict[str, Binding]:
        """canonical key → binding in `system`, for the keys that are bound there."""
        table = schema.bindings
        found: dict[str, Binding] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(keys))):
                rows = conn.execute(
                    select(table).where(
                        table.c.entity == entity, table.c.system == system, table.c.key.in_(chunk)
                    )
                )
                for row in rows:
                    found[row.key] = Binding(
                        entity=row.entity,
                        key=row.key,
                        system=row.system,
                        external_id=row.external_id,
                        snapshot=row.snapshot,
                        hash=row.hash,
                        remote_updated_at=row.remote_updated_at,
                    )
        return found

    def count_bindings(self, entity: str | None = None, system: str | None = None) -> int:
        table = schema.bindings
        query = select(func.count()).select_from(table)
        if entity is not None:
            query = query.where(table.c.entity == entity)
        if system is not None:
            query = query.where(table.c.system == system)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # -- cursors ---------------------------------------------------------------------------

    def cursor(self, route: str, entity: str) -> dt.datetime | None:
        table = schema.cursors
        with self.engine.connect() as conn:
            value = conn.execute(
                select(table.c.watermark).where(table.c.route == route, table.c.entity == entity)
            ).scalar_one_or_none()
        return value

    def cursors(self) -> dict[tuple[str, str], dt.datetime | None]:
        table = schema.cursors
        with self.engine.connect() as conn:
            rows = conn.execute(select(table.c.route, table.c.entity, table.c.watermark))
            return {(row.route, row.entity): row.watermark for row in rows}

    # -- runs ------------------------------------------------------------------------------

    def start_run(self, route: str, trigger: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                schema.runs.insert().values(
                    route=route, trigger=trigger, status="running", started_at=self.clock()
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

    def last_runs(self, limit: int = 20, route: str | None = None) -> list[Run]:
        table = schema.runs
        query = select(table).order_by(table.c.id.desc()).limit(limit)
        if route is not None:
            query = query.where(table.c.route == route)
        with self.engine.connect() as conn:
            return [Run(**row._mapping) for row in conn.execute(query)]

    # -- failures --------------------------------------------------------------------------

    def failures(
        self,
        *,
        route: str | None = None,
        status: str | None = FailureStatus.PENDING,
        ids: Sequence[int] | None = None,
        limit: int | None = None,
    ) -> list[Failure]:
        table = schema.failures
        query = select(table).order_by(table.c.id)
        if route is not None:
            query = query.where(table.c.route == route)
        if status is not None:
            query = query.where(table.c.status == status)
        if ids is not None:
            query = query.where(table.c.id.in_(list(ids)))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [Failure(**row._mapping) for row in conn.execute(query)]

    def count_failures(self, status: str = FailureStatus.PENDING) -> dict[str, int]:
        """Pending failures per route."""
        table = schema.failures
        query = (
            select(table.c.route, func.count())
            .where(table.c.status == status)
            .group_by(table.c.route)
        )
        with self.engine.connect() as conn:
            return {row[0]: int(row[1]) for row in conn.execute(query)}

    def discard_failures(self, ids: Sequence[int]) -> int:
        table = schema.failures
        with self.engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.id.in_(list(ids)), table.c.status == FailureStatus.PENDING)
                .values(status=FailureStatus.DISCARDED, updated_at=self.clock())
            )
            return int(result.rowcount)

    # -- inbox -----------------------------------------------------------------------------

    def enqueue_events(self, events: Sequence[Mapping[str, Any]]) -> int:
        """Store webhook events; a (source, event_id) seen before is ignored. Returns new rows."""
        return len(self.enqueue_new_events(events))

    def enqueue_new_events(self, events: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
        """`enqueue_events` in one multi-row statement; the (source, event_id) pairs that were new.

        The webhook receiver commits many requests' events together with this: the statement is
        compiled once per batch instead of once per event (SQLAlchemy 2.0 cannot cache the
        dialects' ON CONFLICT inserts), and `RETURNING` tells each request which of its events
        were not seen before.
        """
        if not events:
            return set()
        now = self.clock()
        rows = [
            {
                "source": event["source"],
                "event_id": event["event_id"],
                "entity": event["entity"],
                "external_id": event["external_id"],
                "deleted": bool(event.get("deleted", False)),
                "occurred_at": event.get("occurred_at"),
                "received_at": now,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
            for event in events
        ]
        table = schema.inbox
        with self.engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = (
                dialect.insert(table)
                .on_conflict_do_nothing(index_elements=["source", "event_id"])
                .returning(table.c.source, table.c.event_id)
            )
            # executemany with RETURNING: SQLAlchemy's "insertmanyvalues" compiles one row and
            # batches the rest into multi-row statements by itself.
            return {(row.source, row.event_id) for row in conn.execute(statement, rows)}

    def claim_events(self, limit: int = 100) -> list[InboxEvent]:
        """Take due pending events for processing (marks them `processing`)."""
        table = schema.inbox
        now = self.clock()
        with self.engine.begin() as conn:
            query = (
                select(table)
                .where(table.c.status == "pending", table.c.next_attempt_at <= now)
                .order_by(table.c.id)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(conn.execute(query))
            if rows:
                conn.execute(
                    update(table)
                    .where(table.c.id.in_([row.id for row in rows]))
                    .values(status="processing", attempts=table.c.attempts + 1)
                )
        return [
            InboxEvent(
                id=row.id,
                source=row.source,
                event_id=row.event_id,
                entity=row.entity,
                external_id=row.external_id,
                deleted=row.deleted,
                occurred_at=row.occurred_at,
                attempts=row.attempts + 1,
            )
            for row in rows
        ]

    def complete_events(self, ids: Sequence[int]) -> None:
        table = schema.inbox
        with self.engine.begin() as conn:
            conn.execute(
                update(table).where(table.c.id.in_(list(ids))).values(status="done", error=None)
            )

    def retry_event(self, event_id: int, error: str, at: dt.datetime | None) -> None:
        """Back to pending until `at`; with `at` None the event has failed for good."""
        table = schema.inbox
        status = "pending" if at is not None else "failed"
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == event_id)
                .values(status=status, next_attempt_at=at, error=error)
            )

    def requeue_stale_events(self) -> int:
        """Events left `processing` by a process that died go back to pending."""
        table = schema.inbox
        with self.engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.status == "processing")
                .values(status="pending", next_attempt_at=self.clock())
            )
            return int(result.rowcount)

    def inbox_depth(self) -> int:
        table = schema.inbox
        with self.engine.connect() as conn:
            query = (
                select(func.count())
                .select_from(table)
                .where(table.c.status.in_(["pending", "processing"]))
            )
            return int(conn.execute(query).scalar_one())

    def inbox_stats(self) -> tuple[dict[str, int], dt.datetime | None]:
        """Inbox rows per status, and when the oldest unprocessed event was received."""
        table = schema.inbox
        with self.engine.connect() as conn:
            counts = conn.execute(
                select(table.c.status, func.count()).group_by(table.c.status)
            ).all()
            oldest = conn.execute(
                select(func.min(table.c.received_at)).where(
                    table.c.status.in_(["pending", "processing"])
                )
            ).scalar_one_or_none()
        return {str(row[0]): int(row[1]) for row in counts}, oldest

    # -- leases ----------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl: dt.timedelta) -> bool:
        """Take or renew the lease `name` unless another holder's lease is still live."""
        table = schema.leases
        now = self.clock()
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(table)
                .where(table.c.name == name)
                .where((table.c.holder == holder) | (table.c.expires_at < now))
                .values(holder=holder, acquired_at=now, expires_at=now + ttl)
            ).rowcount
            if taken:
                return True
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            inserted = conn.execute(
                dialect.insert(table)
                .values(name=name, holder=holder, acquired_at=now, expires_at=now + ttl)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(table.c.name)
            ).first()
            return inserted is not None

    def release_lease(self, name: str, holder: str) -> None:
        table = schema.leases
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.name == name, table.c.holder == holder))

    def lease_holder(self, name: str) -> str | None:
        table = schema.leases
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.holder, table.c.expires_at).where(table.c.name == name)
            ).first()
        if row is None or row.expires_at < self.clock():
            return None
        return str(row.holder)


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
