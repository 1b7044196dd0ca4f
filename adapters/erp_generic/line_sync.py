"""Writing a sale's lines: its rows in the lines table brought to the wanted lines.

Runs on the caller's connection, inside the batch's transaction, after (or instead of) the
sale's own row is written. Which row a wanted line updates is `lines.match_lines`'s decision;
this module reads the stored rows and runs the updates, deletes and inserts it plans.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp_generic.coerce import same_stored
from adapters.erp_generic.lines import match_lines
from adapters.erp_generic.schema import EntityTables


def sync_lines(
    connection: Connection, tables: EntityTables, pk: Any, lines: list[dict[str, Any]]
) -> bool:
    """Bring a parent's lines to the wanted ones, line by line; returns whether any changed.

    Lines match by their key column (`key`, else `order_by`): a matched line is updated in
    the columns whose stored value differs, a new one inserted (numbered after the last),
    a vanished one deleted. Line ids survive. Without a key column lines match by position.
    """
    table, spec = tables.lines, tables.config.lines
    assert table is not None and spec is not None
    line_pk, foreign = table.c[spec.primary_key], table.c[spec.foreign_key]
    key_name = spec.key or spec.order_by
    order = table.c[key_name] if key_name else line_pk
    current = [
        dict(row)
        for row in connection.execute(
            sa.select(table).where(foreign == pk).order_by(order, line_pk)
        ).mappings()
    ]
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
