"""Failures: records that did not sync, with the reason, one row per (route, entity, source id).

A record that fails again counts one more attempt on its row; one that syncs later has its
pending failure resolved (gathered in a transaction and written in bulk when it flushes). The CLI
lists, replays and discards them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, case, exists, func, or_, select, update

from connector.state import schema
from connector.state.base import StoreBase, TxBase, chunks
from connector.state.upserts import upsert_statement


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


class FailureStatus:
    PENDING = "pending"
    RESOLVED = "resolved"
    DISCARDED = "discarded"


def _json_safe(payload: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    result: dict[str, Any] = json.loads(json.dumps(payload, default=str))
    return result


class FailureStore(StoreBase):
    """Listing, counting and discarding failures."""

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

    def count_failures_by_entity(
        self, status: str = FailureStatus.PENDING
    ) -> dict[tuple[str, str], int]:
        """Failures per (route, entity)."""
        table = schema.failures
        query = (
            select(table.c.route, table.c.entity, func.count())
            .where(table.c.status == status)
            .group_by(table.c.route, table.c.entity)
        )
        with self.engine.connect() as conn:
            return {(row[0], row[1]): int(row[2]) for row in conn.execute(query)}

    def discard_failures(self, ids: Sequence[int]) -> int:
        table = schema.failures
        with self.engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.id.in_(list(ids)), table.c.status == FailureStatus.PENDING)
                .values(status=FailureStatus.DISCARDED, updated_at=self.clock())
            )
            return int(result.rowcount)

    def due_failures(self, max_attempts: int, limit: int = 500) -> list[Failure]:
        """Pending retryable failures whose next retry is due, with attempts left."""
        table = schema.failures
        query = (
            select(table)
            .where(
                table.c.status == FailureStatus.PENDING,
                table.c.retryable.is_(True),
                table.c.attempts < max_attempts,
                or_(table.c.next_retry_at.is_(None), table.c.next_retry_at <= self.clock()),
            )
            .order_by(table.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [Failure(**row._mapping) for row in conn.execute(query)]

    def defer_failures(self, retry_at: Mapping[int, dt.datetime | None]) -> None:
        """Set when each pending failure is retried next (None: not automatically any more)."""
        table = schema.failures
        with self.engine.begin() as conn:
            for failure_id, at in retry_at.items():
                conn.execute(
                    update(table)
                    .where(table.c.id == failure_id, table.c.status == FailureStatus.PENDING)
                    .values(next_retry_at=at)
                )

    def retry_outlook(self, max_attempts: int) -> dict[str, RetryOutlook]:
        """Per route: pending failures the daemon will retry (and when next), and the rest."""
        table = schema.failures
        automatic = table.c.retryable.is_(True) & (table.c.attempts < max_attempts)
        query = (
            select(
                table.c.route,
                automatic.label("automatic"),
                func.count().label("pending"),
                func.min(table.c.next_retry_at, type_=schema.UtcDateTime()).label("next_at"),
                func.count(case((table.c.next_retry_at.is_(None), 1))).label("due_now"),
            )
            .where(table.c.status == FailureStatus.PENDING)
            .group_by(table.c.route, automatic)
        )
        outlook: dict[str, RetryOutlook] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                entry = outlook.setdefault(row.route, RetryOutlook())
                if row.automatic:
                    entry.retrying = int(row.pending)
                    entry.next_retry_at = None if row.due_now else row.next_at
                else:
                    entry.for_a_person = int(row.pending)
        return outlook


@dataclass
class RetryOutlook:
    """Pending failures of one route: retried automatically, or left for a person."""

    retrying: int = 0
    #: The earliest scheduled retry (None: some are due at the daemon's next look).
    next_retry_at: dt.datetime | None = None
    for_a_person: int = 0


#: Whether some of a list of a route's entity's source ids have a pending failure.
_PENDING_AMONG = select(
    exists().where(
        schema.failures.c.route == bindparam("route"),
        schema.failures.c.entity == bindparam("entity"),
        schema.failures.c.status == FailureStatus.PENDING,
        schema.failures.c.external_id.in_(bindparam("ids", expanding=True)),
    )
)


def _any_pending_among(conn: Connection, route: str, entity: str, ids: Iterable[str]) -> bool:
    values = {"route": route, "entity": entity}
    return any(
        conn.execute(_PENDING_AMONG, {**values, "ids": list(chunk)}).scalar()
        for chunk in chunks(sorted(ids))
    )


class FailureTx(TxBase):
    """Recording and resolving failures in a transaction."""

    # Gathered resolutions: (route, entity) → source external ids (set by `StoreTx`).
    _resolved: dict[tuple[str, str], set[str]]

    def _flush_resolved(self) -> None:
        """Write the gathered resolutions: one UPDATE per (route, entity), its ids one list.

        Most records never failed, and most routes have no pending failure at all: one look in
        the (route, entity, status) index says so first, and then the ids are not sent (each
        would cost a look in the unique index). Asked in the transaction once it has begun, so
        a failure committed before it is resolved as it would be by the UPDATE alone. Asked
        before it begins when nothing was written yet (a page of unchanged records): the
        answer "none" leaves nothing to write, and the transaction is then never begun — no
        fence row written, no write lock, no commit — which is what a transaction begun just
        then would have done (read "none", written nothing); "some" begins it.
        """
        resolved, self._resolved = self._resolved, {}
        if not resolved:
            return
        hot = self._hot
        now = hot.datetime_to_db(self.now)
        for (route, entity), external_ids in resolved.items():
            began = self.began
            with self._reading() as conn:
                pending = hot.any_pending_failure.run(
                    conn, route=route, entity=entity, pending=FailureStatus.PENDING
                ).scalar()
                if pending and not began:
                    # Nothing written yet: asked of these ids too, so that a route with some
                    # failure left pending (one waiting for a person) does not begin a
                    # transaction for every page of records that never failed.
                    pending = _any_pending_among(conn, route, entity, external_ids)
            if not pending:
                continue
            hot.resolve_failures.run(
                self._conn,
                route=route,
                entity=entity,
                ids=hot.ids(external_ids),
                pending=FailureStatus.PENDING,
                resolved=FailureStatus.RESOLVED,
                now=now,
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
        updated = (
            "key",
            "stage",
            "error_class",
            "code",
            "message",
            "payload",
            "retryable",
            "status",
            "updated_at",
        )

        def changes(proposed: Any) -> dict[str, Any]:
            change = {column: proposed[column] for column in updated}
            change["attempts"] = table.c.attempts + 1
            # A record that fails again keeps the retry time the daemon gave it (see
            # `defer_failures`) unless the caller names a new one.
            change["next_retry_at"] = func.coalesce(proposed.next_retry_at, table.c.next_retry_at)
            return change

        self._conn.execute(
            upsert_statement(
                self._conn.dialect.name,
                table,
                ("route", "entity", "external_id"),
                changes,
                values,
            )
        )

    def resolve_failure(self, route: str, entity: str, external_id: str) -> None:
        """Mark the record's pending failure resolved (it synced)."""
        self._resolved.setdefault((route, entity), set()).add(external_id)

    def resolve_failures(self, route: str, entity: str, external_ids: list[str]) -> None:
        """`resolve_failure` of each record, in one call (a page's records)."""
        if external_ids:
            self._resolved.setdefault((route, entity), set()).update(external_ids)
