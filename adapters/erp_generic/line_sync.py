"""Writing a sale's lines: its rows in the lines table brought to the wanted lines.

Runs on the caller's connection, inside the batch's transaction, after (or instead of) the
sale's own row is written. Which row a wanted line updates is `lines.match_lines`'s decision;
this module reads the stored rows and runs the updates, deletes and inserts it plans.

The stored lines of a batch's sales are read before its writes in one query per 500 sales
(`read_lines`, `IN (...)` on the foreign key), as current_rows.py reads their header rows.
A sale's read-ahead lines are handed out once (`CurrentLines.take`): a sale twice in the batch
reads its lines alone the second time, so it sees its own first write; so does a sale whose
key the batch did not know ahead (a create, or a row an insert found). Only integer keys are
read ahead: a sale's lines are every row its key *equals*, and for text a case-insensitive or
accent-insensitive collation (MariaDB's default) can make a row equal to a key it is not
identical to, which grouping in Python would miss; the lone `WHERE foreign_key = :id` has the
database decide, as before. A row the batched read finds whose key is not exactly one asked
for (never expected) drops the whole read-ahead for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp_generic.coerce import same_stored
from adapters.erp_generic.current_rows import CHUNK
from adapters.erp_generic.lines import match_lines
from adapters.erp_generic.schema import EntityTables
from connector.batching import chunked

Lines = list[dict[str, Any]]


@dataclass
class CurrentLines:
    """The stored lines of a batch's sales, by the sale's primary key, each handed out once."""

    by_parent: dict[Any, Lines] = field(default_factory=dict)

    def take(self, pk: Any) -> Lines | None:
        """The lines of sale `pk` (in line order), once; None when they were not read ahead."""
        return self.by_parent.pop(pk, None)


def _ordered(tables: EntityTables) -> tuple[sa.Table, sa.Column[Any], list[sa.Column[Any]]]:
    """The lines table, its foreign key and the order a sale's lines are matched in."""
    table, spec = tables.lines, tables.config.lines
    assert table is not None and spec is not None
    line_pk = table.c[spec.primary_key]
    key_name = spec.key or spec.order_by
    order = table.c[key_name] if key_name else line_pk
    return table, table.c[spec.foreign_key], [order, line_pk]


def read_lines(
    connection: Connection, tables: EntityTables, parents: Iterable[Any]
) -> CurrentLines:
    """Read the stored lines of the sales whose primary keys are `parents` (integer keys only)."""
    table, foreign, order = _ordered(tables)
    parent_key = tables.table.c[tables.config.primary_key]
    if not (isinstance(parent_key.type, sa.Integer) and isinstance(foreign.type, sa.Integer)):
        return CurrentLines()
    wanted = list(dict.fromkeys(pk for pk in parents if type(pk) is int))
    read = CurrentLines()
    for chunk in chunked(wanted, CHUNK):
        found: dict[Any, Lines] = {pk: [] for pk in chunk}
        statement = sa.select(table).where(foreign.in_(chunk)).order_by(foreign, *order)
        for row in connection.execute(statement).mappings():
            lines = found.get(row[foreign.key])
            if lines is None:
                return CurrentLines()  # not exactly a key asked for: each sale reads alone
            lines.append(dict(row))
        read.by_parent.update(found)
    return read


def sync_lines(
    connection: Connection,
    tables: EntityTables,
    pk: Any,
    lines: Lines,
    stored: Lines | None,
) -> bool:
    """Bring a parent's lines to the wanted ones, line by line; returns whether any changed.

    Lines match by their key column (`key`, else `order_by`): a matched line is updated in
    the columns whose stored value differs, a new one inserted (numbered after the last),
    a vanished one deleted. Line ids survive. Without a key column lines match by position.
    `stored`: the parent's stored lines, read ahead with the batch (`read_lines`); None to
    read them here.
    """
    table, spec = tables.lines, tables.config.lines
    assert table is not None and spec is not None
    line_pk = table.c[spec.primary_key]
    key_name = spec.key or spec.order_by
    current = stored
    if current is None:
        _, foreign, order = _ordered(tables)
        statement = sa.select(table).where(foreign == pk).order_by(*order)
        current = [dict(row) for row in connection.execute(statement).mappings()]
    plan = match_lines(current, lines, key_name, spec.primary_key)
    changed = False
    for row_id, wanted in plan.updates:
        row = next(r for r in current if r[spec.primary_key] == row_id)
        diff = {
            name: value
            for name, value in wanted.items()
            if name not in (spec.primary_key, spec.foreign_key)
            and not same_stored(table.c[name], row[name], value)
        }
        if diff:
            connection.execute(sa.update(table).where(line_pk == row_id).values(diff))
            changed = True
    if plan.deletes:
        connection.execute(sa.delete(table).where(line_pk.in_(plan.deletes)))
        changed = True
    if plan.inserts:
        numbers = [r[key_name] for r in current if key_name and r[key_name] is not None]
        after = max((int(n) for n in numbers), default=0)
        rows = []
        for line in plan.inserts:
            row = {k: v for k, v in line.items() if k != spec.primary_key}
            row[spec.foreign_key] = pk
            if key_name is not None and row.get(key_name) is None:
                after += 1
                row[key_name] = after
            rows.append(row)
        names = sorted({name for row in rows for name in row})
        connection.execute(sa.insert(table), [{n: row.get(n) for n in names} for row in rows])
        changed = True
    return changed
