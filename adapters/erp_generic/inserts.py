"""Inserting a row into an ERP table without harming it (`write: table`).

An insert (a record the CRM created) is where a foreign schema is easiest to damage, so it is
completed and checked before any SQL runs:

* a column the mapping leaves empty is omitted, so the database's own default applies (an
  explicit NULL would override it, and fail a NOT NULL column);
* the entity's `defaults:` fill required columns the mapping does not write;
* a key the ERP assigns (`assign:`) comes from a sequence, from the user's SQL expression, or
  from the database itself (identity, default, trigger), and is read back; a row whose key would
  be NULL, or whose `required:` columns are empty, is refused alone and never inserted;
* with a `reference:` column (or natural keys in `required:`), the insert first looks for a row
  that holds the same values: a run killed between the insert and its binding updates that row
  on the rerun instead of inserting it twice.

Everything runs on the caller's connection, inside the batch's transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp_generic.coerce import to_column_value
from adapters.erp_generic.schema import EntityTables
from adapters.erp_generic.settings import SqlEntity
from connector.adapter import NativeWrite
from connector.errors import RecordError


def insert_values(
    tables: EntityTables, write: NativeWrite, values: dict[str, Any]
) -> dict[str, Any]:
    """The row an insert brings, before the ERP's key is assigned: empty columns left out,
    `defaults:` filled in, the connector's reference set."""
    table, config = tables.table, tables.config
    row = {name: value for name, value in values.items() if value is not None}
    for name, default in config.defaults.items():
        if row.get(name) is None:
            row[name] = to_column_value(table.c[name], default)
    if config.reference is not None:
        row[config.reference.column] = reference_value(config, write)
    return row


def reference_value(config: SqlEntity, write: NativeWrite) -> str:
    """What the `reference:` column holds for this write (the canonical key or source id)."""
    reference = config.reference
    assert reference is not None
    if reference.value == "source_id":
        if not write.source_id:
            raise RecordError(
                f"the reference column {reference.column!r} wants the source record's id, "
                "and this write has none",
                code="MISSING_KEY",
            )
        return write.source_id
    return write.key


def find_existing(connection: Connection, tables: EntityTables, row: dict[str, Any]) -> Any | None:
    """The primary key of the row an earlier, unbound insert of this record left, if any.

    Looked up by the `reference:` column when there is one, else by the `required:` natural
    keys the row brings. Two matches are refused: guessing would overwrite a stranger's row.
    """
    table, config = tables.table, tables.config
    names = [config.reference.column] if config.reference is not None else list(config.required)
    if not names or any(row.get(name) is None for name in names):
        return None
    key = table.c[config.primary_key]
    condition = sa.and_(*(table.c[name] == row[name] for name in names))
    found = connection.execute(sa.select(key).where(condition).limit(2)).scalars().all()
    if len(found) > 1:
        shown = ", ".join(f"{name}={row[name]!r}" for name in names)
        raise RecordError(
            f"{len(found)}+ rows in {table.name!r} already have {shown}; refusing to guess",
            code="AMBIGUOUS_MATCH",
        )
    return found[0] if found else None


def assign_key(connection: Connection, tables: EntityTables, row: dict[str, Any]) -> None:
    """Fill the ERP-assigned key from its sequence or expression, when the row has none."""
    table, assign = tables.table, tables.config.assign
    if assign is None or row.get(assign.column) is not None:
        return
    column = table.c[assign.column]
    if assign.sequence is not None:
        sequence = sa.Sequence(assign.sequence, schema=table.schema)
        value: Any = connection.execute(sa.select(sequence.next_value())).scalar_one()
    elif assign.expression is not None:
        # The user's own SQL from config.yaml, run as written (like a view they would create);
        # it is theirs to write, never built from record values.
        value = connection.execute(sa.text(assign.expression)).scalar()
    else:
        return  # the database assigns it; `read_back_key` checks it did
    if value is None:
        raise RecordError(
            f"the {assign.column!r} the ERP assigns came back empty; nothing was inserted",
            code="MISSING_KEY",
        )
    row[assign.column] = to_column_value(column, value)


def check_required(tables: EntityTables, row: dict[str, Any]) -> None:
    """Refuse a row whose natural keys are empty, before the database sees it."""
    config = tables.config
    required = list(config.required)
    if config.assign is not None and (config.assign.sequence or config.assign.expression):
        required.append(config.assign.column)
    missing = [name for name in required if row.get(name) in (None, "")]
    if missing:
        raise RecordError(
            f"{tables.table.name!r} needs {', '.join(map(repr, missing))} on insert and the "
            "record has none (map it, or give a default or an assigned key in the settings)",
            code="MISSING_KEY",
        )


def read_back_key(connection: Connection, tables: EntityTables, pk: Any) -> None:
    """After an insert whose key the database assigns: check it did (a trigger may not)."""
    table, assign = tables.table, tables.config.assign
    if assign is None or assign.sequence or assign.expression:
        return
    key = table.c[tables.config.primary_key]
    value = connection.execute(sa.select(table.c[assign.column]).where(key == pk)).scalar()
    if value in (None, ""):
        raise RecordError(
            f"the database assigned no {assign.column!r} to the new row; it was not kept",
            code="MISSING_KEY",
        )


def insert_new(
    connection: Connection, tables: EntityTables, write: NativeWrite, values: dict[str, Any]
) -> tuple[Any, bool]:
    """Insert a record the ERP does not have yet; `(primary key, created)`.

    A row left by an earlier, unbound attempt is updated instead (`created` is False). The
    insert runs in a savepoint, so a key the database failed to assign undoes only this row.
    """
    table, config = tables.table, tables.config
    row = insert_values(tables, write, values)
    existing = find_existing(connection, tables, row)
    if existing is not None:
        key = table.c[config.primary_key]
        # What the insert brought, as the insert would have written it: an empty column is
        # left alone, so the row keeps the key the ERP assigned it and its columns' defaults
        # (writing NULL there failed the replay on NOT NULL, and forever).
        changes = {
            name: value
            for name, value in row.items()
            if name != config.primary_key and name not in config.defaults
        }
        changes.update((n, row[n]) for n in config.defaults if values.get(n) is not None)
        connection.execute(sa.update(table).where(key == existing).values(changes))
        return existing, False
    assign_key(connection, tables, row)
    check_required(tables, row)
    savepoint = connection.begin_nested()
    try:
        inserted = connection.execute(sa.insert(table).values(row)).inserted_primary_key
        assert inserted is not None, "an INSERT always reports its primary key"
        read_back_key(connection, tables, inserted[0])
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return inserted[0], True
