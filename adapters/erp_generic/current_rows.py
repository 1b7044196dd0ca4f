"""The rows a write batch is about to update, read before it in one query per 500 records.

Writing a record compares what it brings with the row the ERP holds and updates only the
columns that differ (`SqlStore._write_one`), so each record needed its own SELECT first: by
primary key for a bound record, by the `sync_key` column for one the CRM created. This reads
them for the whole batch with `IN (...)`, inside the batch's transaction, just before its
writes; the comparison and the writes themselves are unchanged.

A row is handed out once (`take`): a record twice in the batch finds its row read ahead the
first time and looks it up alone the second, so it sees its own first write, as before. So is
a row that a bound record and a `sync_key` lookup of the batch both reach (the bound write may
move its sync key): neither is read ahead. A record not read ahead, or whose row the read did
not find by its exact key (a case-insensitive MariaDB collation, say), is looked up alone as
before: the read-ahead only saves queries. A `sync_key` the read did not find is a row to
create, as the lone SELECT found it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from adapters.erp_generic.schema import EntityTables

#: Ids in one `IN (...)`: well below every database's limit on bound parameters.
CHUNK = 500

#: `take`'s answer for a record the batch did not read ahead: look it up alone.
NOT_READ = object()


@dataclass
class CurrentRows:
    """A batch's current rows by primary key, and by sync key for records not yet bound."""

    by_key: dict[Any, RowMapping] = field(default_factory=dict)
    by_sync_key: dict[str, RowMapping | None] = field(default_factory=dict)

    def take(self, pk: Any) -> RowMapping | object:
        """The row with primary key `pk`, once; `NOT_READ` when it was not read ahead."""
        return self.by_key.pop(pk, NOT_READ)

    def take_synced(self, key: str) -> RowMapping | object | None:
        """The row whose sync key is `key` (None: there is none), once; else `NOT_READ`."""
        return self.by_sync_key.pop(key, NOT_READ)


def read_current(
    connection: Connection,
    tables: EntityTables,
    bound: Sequence[Any],
    unbound: Sequence[str],
) -> CurrentRows:
    """Read the rows of a batch: by primary key for its `bound` records, and by the `sync_key`
    column (when the table has one) for the canonical keys of its `unbound` ones."""
    table, config = tables.table, tables.config
    pks = dict.fromkeys(bound)  # each once, in the batch's order
    rows = CurrentRows()
    key_column = table.c[config.primary_key]
    for chunk in _chunks(pks):
        found = connection.execute(sa.select(table).where(key_column.in_(chunk))).mappings()
        rows.by_key.update((row[config.primary_key], row) for row in found)
    if config.sync_key is None:
        return rows
    sync_column = table.c[config.sync_key]
    for chunk in _chunks(list(dict.fromkeys(unbound))):
        synced = connection.execute(sa.select(table).where(sync_column.in_(chunk)))
        holders = synced.mappings().all()
        seen = Counter(row[config.sync_key] for row in holders)
        rows.by_sync_key.update(dict.fromkeys(chunk))
        for row in holders:
            if seen[row[config.sync_key]] > 1:  # two rows hold it: the lone SELECT says so
                rows.by_sync_key.pop(row[config.sync_key], None)
            elif row[config.primary_key] in pks:
                # A bound record of the batch writes this row too (and may move its sync
                # key): both look it up alone, each at its turn.
                rows.by_sync_key.pop(row[config.sync_key], None)
                rows.by_key.pop(row[config.primary_key], None)
            elif row[config.sync_key] in rows.by_sync_key:
                rows.by_sync_key[row[config.sync_key]] = row
    return rows


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    iterator = iter(values)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk
