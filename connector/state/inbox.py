"""The webhook inbox: events the receiver stored, waiting for the inbox worker.

One row per (source, event id), so a redelivered webhook is a no-op. The worker claims due
pending events (`processing`), then completes them, or puts them back for a retry, or fails them
for good. Events left `processing` by a worker that died go back to pending when the next worker
takes the inbox lease.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError

from connector.errors import UnstorableError
from connector.state import schema
from connector.state.base import MYSQL_FAMILY, StoreBase, chunks, dialect_of

#: Rows SQLAlchemy sends as one multi-row INSERT (its `insertmanyvalues_page_size` default).
ONE_STATEMENT_ROWS = 1000


#: MariaDB: how many times a batch of events is read and inserted again after another writer
#: stored one of its events in between (each try sees what the others committed).
_MYSQL_ENQUEUE_ATTEMPTS = 3
#: MariaDB's error for a duplicate key (ER_DUP_ENTRY).
_DUPLICATE_ENTRY = 1062


def _stored(write: Callable[[], set[tuple[str, str]]]) -> set[tuple[str, str]]:
    """Run an inbox write, turning values no store can keep into `UnstorableError`."""
    try:
        return write()
    except UnicodeEncodeError:
        # The driver encodes text as UTF-8 and cannot encode a lone surrogate.
        raise UnstorableError("an event holds text that is not valid Unicode") from None
    except DataError as error:
        # PostgreSQL refuses NUL characters in text, any store a value longer than its column;
        # the cause is in the values, so the same write would fail again. The driver's message
        # quotes no parameter values.
        detail = str(error.orig).splitlines()[0] if error.orig is not None else "bad value"
        raise UnstorableError(f"the store refused an event: {detail}") from None


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


class InboxStore(StoreBase):
    """The inbox's queue operations (each call its own transaction)."""

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
        if self.engine.dialect.name in MYSQL_FAMILY:
            return _stored(lambda: self._insert_new(rows))
        return _stored(lambda: self._insert_returning(rows))

    def _insert_returning(self, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """INSERT … ON CONFLICT DO NOTHING RETURNING (SQLite, PostgreSQL)."""
        table = schema.inbox
        name = self.engine.dialect.name
        statement = (
            dialect_of(name)
            .insert(table)
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
            .returning(table.c.source, table.c.event_id)
        )
        if name == "postgresql" and len(rows) <= ONE_STATEMENT_ROWS:
            # One statement is a transaction of its own: in autocommit mode it commits when
            # it completes, and BEGIN and COMMIT cost no round trips of their own (half of
            # a group commit's time with the store a network hop away).
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                return {(row.source, row.event_id) for row in conn.execute(statement, rows)}
        with self.engine.begin() as conn:
            # executemany with RETURNING: SQLAlchemy's "insertmanyvalues" compiles one row
            # and batches the rest into multi-row statements by itself.
            return {(row.source, row.event_id) for row in conn.execute(statement, rows)}

    def _insert_new(self, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """MariaDB's `enqueue_new_events`: it has no ON CONFLICT DO NOTHING (INSERT IGNORE would
        also turn a value that does not fit into a warning), so the batch's events already
        stored are read and only the others inserted, in one transaction. An event another
        writer inserts in between makes the INSERT a duplicate; the batch is then read again."""
        by_event: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:  # the first of an event's copies in the batch, as ON CONFLICT keeps
            by_event.setdefault((row["source"], row["event_id"]), row)
        sources: dict[str, list[str]] = {}
        for source, event_id in by_event:
            sources.setdefault(source, []).append(event_id)  # one query per source, indexed
        for attempt in range(_MYSQL_ENQUEUE_ATTEMPTS):
            try:
                return self._insert_unseen(by_event, sources)
            except IntegrityError as error:
                duplicate = getattr(error.orig, "args", (None,))[0] == _DUPLICATE_ENTRY
                if not duplicate or attempt + 1 == _MYSQL_ENQUEUE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _insert_unseen(
        self, by_event: dict[tuple[str, str], dict[str, Any]], sources: dict[str, list[str]]
    ) -> set[tuple[str, str]]:
        table = schema.inbox
        with self.engine.begin() as conn:
            stored: set[tuple[str, str]] = set()
            for source, event_ids in sources.items():
                for chunk in chunks(event_ids):
                    found = conn.execute(
                        select(table.c.event_id).where(
                            table.c.source == source, table.c.event_id.in_(chunk)
                        )
                    )
                    stored.update((source, event_id) for event_id in found.scalars())
            new = {pair: row for pair, row in by_event.items() if pair not in stored}
            if new:
                conn.execute(insert(table), list(new.values()))
        return set(new)

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
            if conn.dialect.name == "postgresql" or conn.dialect.name in MYSQL_FAMILY:
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
