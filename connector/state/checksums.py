"""Row checksums: what a checksum-mode source looked like when it was last scanned.

An adapter that cannot ask its source "what changed since" (no usable change column) hashes
every row on each scan and compares with the hashes kept here. A new or changed row gets a new
hash and `changed_at` = the scan's time; a vanished row keeps its key with a NULL hash (a
tombstone) and `changed_at` = the scan's time. The adapter then reports every row whose
`changed_at` is at or after the route's `since`, so a change found by a scan whose records
were never handled (a crash) is reported again until the cursor passes it. Each call is its
own short transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select, update

from connector.state import schema
from connector.state.base import StoreBase, chunks
from connector.state.upserts import upsert


@dataclass(frozen=True, slots=True)
class RowHash:
    key: str
    hash: str | None
    changed_at: dt.datetime


class ChecksumStore(StoreBase):
    """The `RowHashStore` an adapter gets through its `AdapterContext`."""

    def row_hashes(self, system: str, entity: str, keys: Sequence[str]) -> dict[str, RowHash]:
        """The stored hashes (tombstones included) of these keys."""
        table = schema.row_checksums
        found: dict[str, RowHash] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(keys)):
                rows = conn.execute(
                    select(table.c.row_key, table.c.hash, table.c.changed_at).where(
                        table.c.system == system,
                        table.c.entity == entity,
                        table.c.row_key.in_(chunk),
                    )
                )
                found.update({key: RowHash(key, digest, at) for key, digest, at in rows})
        return found

    def row_hashes_between(
        self, system: str, entity: str, low: int | None, high: int | None
    ) -> dict[str, RowHash]:
        """Live hashes of integer keys in `(low, high]` (an open end when None)."""
        table = schema.row_checksums
        statement = select(table.c.row_key, table.c.hash, table.c.changed_at).where(
            table.c.system == system, table.c.entity == entity, table.c.hash.is_not(None)
        )
        if low is not None:
            statement = statement.where(table.c.ordinal > low)
        if high is not None:
            statement = statement.where(table.c.ordinal <= high)
        with self.engine.connect() as conn:
            return {key: RowHash(key, digest, at) for key, digest, at in conn.execute(statement)}

    def live_row_keys(self, system: str, entity: str) -> Iterator[str]:
        """Every key with a live hash (for sources whose keys are not integers)."""
        table = schema.row_checksums
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=5000).execute(
                select(table.c.row_key).where(
                    table.c.system == system, table.c.entity == entity, table.c.hash.is_not(None)
                )
            )
            yield from result.scalars()

    def save_row_hashes(
        self,
        system: str,
        entity: str,
        rows: Sequence[tuple[str, int | None, str]],
        changed_at: dt.datetime,
    ) -> None:
        """Record new hashes (key, integer key or None, hash) as changed at `changed_at`."""
        values = [
            {
                "system": system,
                "entity": entity,
                "row_key": key,
                "ordinal": ordinal,
                "hash": digest,
                "changed_at": changed_at,
            }
            for key, ordinal, digest in rows
        ]
        with self.engine.begin() as conn:
            upsert(
                conn,
                schema.row_checksums,
                values,
                ["system", "entity", "row_key"],
                ["ordinal", "hash", "changed_at"],
            )

    def mark_vanished(
        self, system: str, entity: str, keys: Sequence[str], changed_at: dt.datetime
    ) -> None:
        table = schema.row_checksums
        with self.engine.begin() as conn:
            for chunk in chunks(list(keys)):
                conn.execute(
                    update(table)
                    .where(
                        table.c.system == system,
                        table.c.entity == entity,
                        table.c.row_key.in_(chunk),
                    )
                    .values(hash=None, changed_at=changed_at)
                )

    def changed_rows(
        self,
        system: str,
        entity: str,
        since: dt.datetime | None,
        after: tuple[dt.datetime, str] | None,
        limit: int,
    ) -> list[RowHash]:
        """A page of rows changed at/after `since`, in (changed_at, key) order after `after`."""
        table = schema.row_checksums
        statement = select(table.c.row_key, table.c.hash, table.c.changed_at).where(
            table.c.system == system, table.c.entity == entity
        )
        if since is not None:
            statement = statement.where(table.c.changed_at >= since)
        if after is not None:
            at, key = after
            statement = statement.where(
                or_(table.c.changed_at > at, and_(table.c.changed_at == at, table.c.row_key > key))
            )
        statement = statement.order_by(table.c.changed_at, table.c.row_key).limit(limit)
        with self.engine.connect() as conn:
            return [RowHash(key, digest, at) for key, digest, at in conn.execute(statement)]

    def purge_vanished(self, system: str, entity: str, before: dt.datetime) -> int:
        """Drop tombstones older than `before` (the route has handled them)."""
        table = schema.row_checksums
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(table).where(
                    table.c.system == system,
                    table.c.entity == entity,
                    table.c.hash.is_(None),
                    table.c.changed_at < before,
                )
            )
            return done.rowcount or 0
