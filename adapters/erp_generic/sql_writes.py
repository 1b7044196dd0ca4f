"""SQL mode's writes: batched, transactional upserts and deletes on reflected tables.

A batch is one transaction; should the database refuse one of its rows, the batch runs once
more with a savepoint per row, so that row fails alone and the others are written. A write
updates only the columns whose stored value differs, and leaves a row that already holds what
the write brings untouched (its `updated_at` too, so neither change feed sees our echo).
Inserts are completed and checked by writes.py, `write: staging` goes to staging.py, the rows a
batch compares against are read ahead by current_rows.py, and a sale's lines are written by
line_sync.py. Everything is synchronous SQLAlchemy Core; the adapter runs it in a worker thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from adapters.erp_generic.coerce import (
    NO_SUCH_ID,
    aware_stamp,
    convert_id,
    convert_ids,
    same_stored,
    stored_moment,
    to_column_value,
)
from adapters.erp_generic.current_rows import NOT_READ, CurrentRows, read_current
from adapters.erp_generic.dberrors import classify, database_failure, record_error
from adapters.erp_generic.inserts import insert_new, insert_values
from adapters.erp_generic.line_sync import CurrentLines, Lines, read_lines, sync_lines
from adapters.erp_generic.reader import LINES_FIELD
from adapters.erp_generic.schema import EntityTables
from adapters.erp_generic.staging import write_staged
from connector.adapter import NativeWrite, WriteResult
from connector.errors import AwaitingTarget, RecordError
from connector.timestamps import WallClock, utc_now

#: Dialects with a native INSERT … ON CONFLICT DO UPDATE (sqlite ≥ 3.24, PostgreSQL ≥ 9.5).
#: MySQL's INSERT … ON DUPLICATE KEY UPDATE is not one: it fires on a clash with *any* unique
#: key, so a row whose customer number is taken would overwrite that customer instead of failing.
_ON_CONFLICT_INSERTS: dict[str, Callable[[sa.Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def _is_record_level(error: sa.exc.DBAPIError) -> bool:
    return classify(error) == "record"


class SqlWriter:
    """Writes batches into one ERP database's reflected tables (`SqlStore`'s write side)."""

    def __init__(self, engine: Engine, *, clock: WallClock = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self._on_conflict = _ON_CONFLICT_INSERTS.get(engine.dialect.name)

    def upsert(self, tables: EntityTables, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        """Write a batch in one transaction; a row the database refuses fails alone."""
        refused = write_refusal(tables, "written")
        if refused is not None:
            return [WriteResult(w.key, w.external_id, error=refused) for w in writes]
        results: list[WriteResult] = []
        ready: list[tuple[NativeWrite, dict[str, Any], list[dict[str, Any]] | None]] = []
        for write in writes:
            try:
                values, lines = _prepare(tables, write)
            except RecordError as error:
                results.append(WriteResult(write.key, write.external_id, error=error))
                continue
            ready.append((write, values, lines))

        def write_all(connection: Connection, isolate: bool) -> list[WriteResult]:
            now = self._now(tables)
            known = self._current_rows(connection, tables, [write for write, _, _ in ready])
            known_lines = self._current_lines(connection, tables, ready, known)
            out: list[WriteResult] = []
            for write, values, lines in ready:
                savepoint = connection.begin_nested() if isolate else None
                try:
                    out.append(
                        self._write_one(
                            connection, tables, write, values, lines, now, known, known_lines
                        )
                    )
                except RecordError as error:
                    # Refused before or without harm (see writes.py); a staged row that now
                    # waits for the ERP's import job is kept.
                    if savepoint is not None:
                        keep = isinstance(error, AwaitingTarget)
                        (savepoint.commit if keep else savepoint.rollback)()
                    out.append(WriteResult(write.key, write.external_id, error=error))
                    continue
                except sa.exc.DBAPIError as error:
                    if savepoint is None:
                        raise
                    savepoint.rollback()
                    if not _is_record_level(error):
                        raise
                    out.append(WriteResult(write.key, write.external_id, error=record_error(error)))
                    continue
                if savepoint is not None:
                    savepoint.commit()
            return out

        return results + self._in_transaction(write_all, "writing")

    def delete(self, tables: EntityTables, ids: Sequence[str]) -> list[WriteResult]:
        """Mark rows deleted (soft-delete column) or, if configured so, delete them."""
        config = tables.config
        refused = write_refusal(tables, "deleted")
        if refused is not None:
            return [WriteResult(external_id, external_id, error=refused) for external_id in ids]
        if config.soft_delete is None and not config.hard_delete:
            error = RecordError(
                f"{tables.entity.value} deletes are not configured (no soft_delete column)",
                code="DELETE_NOT_CONFIGURED",
            )
            return [WriteResult(external_id, external_id, error=error) for external_id in ids]
        key = tables.table.c[config.primary_key]
        pairs = [(external_id, convert_id(key, external_id)) for external_id in ids]

        def delete_all(connection: Connection, isolate: bool) -> list[WriteResult]:
            now = self._now(tables)
            out: list[WriteResult] = []
            for external_id, pk in pairs:
                if pk is NO_SUCH_ID:  # cannot exist, so it is already gone
                    out.append(WriteResult(external_id, external_id, updated_at=now))
                    continue
                savepoint = connection.begin_nested() if isolate else None
                try:
                    self._delete_one(connection, tables, pk, now)
                    if savepoint is not None:
                        savepoint.commit()
                except sa.exc.DBAPIError as error:
                    if savepoint is None or not _is_record_level(error):
                        raise
                    savepoint.rollback()
                    out.append(WriteResult(external_id, external_id, error=record_error(error)))
                    continue
                out.append(WriteResult(external_id, external_id, updated_at=now))
            return out

        return self._in_transaction(delete_all, "deleting")

    def _now(self, tables: EntityTables) -> dt.datetime:
        """The write time as the `updated_at` column stores it (a MySQL `DATETIME` keeps whole
        seconds), so the time a write reports is the time a read finds."""
        return stored_moment(tables.table.c[tables.config.updated_at], self.clock())

    def _in_transaction(
        self, work: Callable[[Connection, bool], list[WriteResult]], doing: str
    ) -> list[WriteResult]:
        """Run `work` in one transaction; on a refused row, once more with one savepoint per row.

        A lost connection rolls the whole transaction back and becomes a `TransientError`, so
        the engine retries the batch; nothing of it was committed.
        """
        try:
            with self.engine.begin() as connection:
                return work(connection, False)
        except sa.exc.DBAPIError as error:
            if not _is_record_level(error):
                raise database_failure(error, doing) from error
        try:
            with self.engine.begin() as connection:
                return work(connection, True)
        except sa.exc.DBAPIError as error:
            raise database_failure(error, doing) from error

    def _current_rows(
        self, connection: Connection, tables: EntityTables, writes: Sequence[NativeWrite]
    ) -> CurrentRows:
        """The rows the batch's writes compare against, read in one query (current_rows.py)."""
        if tables.staging is not None and tables.config.write == "staging":
            return CurrentRows()  # staged writes read no row of the table
        key = tables.table.c[tables.config.primary_key]
        bound = convert_ids(key, (w.external_id for w in writes if w.external_id is not None))
        unbound = [w.key for w in writes if w.external_id is None]
        return read_current(connection, tables, bound, unbound)

    def _current_lines(
        self,
        connection: Connection,
        tables: EntityTables,
        ready: Sequence[tuple[NativeWrite, dict[str, Any], Lines | None]],
        known: CurrentRows,
    ) -> CurrentLines:
        """The stored lines of the batch's sales that bring lines and whose row is known before
        the writes (by id, or by a sync key read ahead), read in one query (line_sync.py)."""
        if tables.lines is None or (
            tables.staging is not None and tables.config.write == "staging"
        ):
            return CurrentLines()  # no lines, or staged writes, which read no line of the table
        config = tables.config
        key = tables.table.c[config.primary_key]
        parents: list[Any] = []
        for write, _, lines in ready:
            if lines is None:
                continue
            if write.external_id is not None:
                parents.append(convert_id(key, write.external_id))
            elif (row := known.by_sync_key.get(write.key)) is not None:
                parents.append(row[config.primary_key])
        if not parents:
            return CurrentLines()
        return read_lines(connection, tables, parents)

    def _write_one(
        self,
        connection: Connection,
        tables: EntityTables,
        write: NativeWrite,
        values: dict[str, Any],
        lines: list[dict[str, Any]] | None,
        now: dt.datetime,
        known: CurrentRows,
        known_lines: CurrentLines,
    ) -> WriteResult:
        """Insert, or update only the columns (and lines) whose stored value differs.

        A row whose values and lines already are what the write wants is not touched at all:
        its `updated_at` stays, so the ERP's change feed (and ours) does not see our echo.
        Inserts are completed and checked by writes.py; `write: staging` goes to staging.py.
        The row compared with comes from `known` (the batch's, read ahead) or a SELECT of its own,
        its stored lines from `known_lines` likewise. Any write of a row uses up what was read
        ahead for it, lines included: a later write of the same row reads it afresh.
        """
        if tables.staging is not None and tables.config.write == "staging":
            return write_staged(connection, tables.staging, write, values, lines)
        table, config = tables.table, tables.config
        key = table.c[config.primary_key]
        values = dict(values)
        if write.external_id is not None:
            values.pop(config.primary_key, None)
        pk: Any = None
        current: Any = NOT_READ
        if write.external_id is not None:
            pk = convert_id(key, write.external_id)
        elif config.sync_key is not None:
            current = known.take_synced(write.key)
            if current is NOT_READ:
                sync_key = table.c[config.sync_key]
                pk = connection.execute(
                    sa.select(key).where(sync_key == write.key)
                ).scalar_one_or_none()
            elif current is not None:
                pk = current[config.primary_key]
        if pk is None and write.external_id is None:
            # A new row: stamped, with the canonical key so a replayed create finds it.
            values[config.updated_at] = to_column_value(table.c[config.updated_at], now)
            created = True
            if config.sync_key is not None:
                values[config.sync_key] = write.key
            if config.sync_key is not None and config.assign is None and not config.required:
                row = insert_values(tables, write, values)
                pk = self._insert_by_sync_key(connection, tables, row)
            else:
                # An ERP-assigned key is drawn (and checked) for a real insert only; a row an
                # earlier, unbound attempt left is found and updated instead.
                pk, created = insert_new(connection, tables, write, values)
            known.take(pk)  # an earlier attempt's row it updated: read it afresh from now on
            stored_lines = known_lines.take(pk)
            if lines is not None and tables.lines is not None:
                sync_lines(connection, tables, pk, lines, stored_lines)
            return WriteResult(write.key, str(pk), created=created, updated_at=now)
        if current is NOT_READ:
            current = None if pk is NO_SUCH_ID else known.take(pk)
        if current is NOT_READ:
            current = connection.execute(sa.select(table).where(key == pk)).mappings().first()
        if current is None:
            error = RecordError(
                f"{table.name} row {write.external_id or write.key!r} does not exist",
                code="NOT_FOUND",
            )
            return WriteResult(write.key, write.external_id, error=error)
        changes = {
            name: value
            for name, value in values.items()
            if not same_stored(table.c[name], current[name], value)
        }
        lines_changed = False
        stored_lines = known_lines.take(pk)
        if lines is not None and tables.lines is not None:
            lines_changed = sync_lines(connection, tables, pk, lines, stored_lines)
        if not changes and not lines_changed:
            stamp = current[config.updated_at]
            return WriteResult(write.key, str(pk), updated_at=aware_stamp(stamp) if stamp else None)
        # A real change moves updated_at so the ERP's own change feed (and ours) sees it, and
        # carries the canonical key along; an unchanged row is left exactly as it is.
        changes[config.updated_at] = to_column_value(table.c[config.updated_at], now)
        if config.sync_key is not None and current[config.sync_key] != write.key:
            changes[config.sync_key] = write.key
        connection.execute(sa.update(table).where(key == pk).values(changes))
        return WriteResult(write.key, str(pk), updated_at=now)

    def _insert_by_sync_key(
        self, connection: Connection, tables: EntityTables, values: dict[str, Any]
    ) -> Any:
        """Insert a row carrying a sync key nobody has yet; a concurrent writer that inserted
        the same key first wins and our values update its row (ON CONFLICT where available,
        otherwise the duplicate fails and the batch is replayed, finding the row)."""
        table, config = tables.table, tables.config
        assert config.sync_key is not None
        key, sync_key = table.c[config.primary_key], table.c[config.sync_key]
        if self._on_conflict is not None:
            changes = {name: value for name, value in values.items() if name != config.sync_key}
            statement = (
                self._on_conflict(table)
                .values(values)
                .on_conflict_do_update(index_elements=[sync_key], set_=changes)
                .returning(key)
            )
            return connection.execute(statement).scalar_one()
        return _insert(connection, table, values)

    def _delete_one(
        self, connection: Connection, tables: EntityTables, pk: Any, now: dt.datetime
    ) -> None:
        table, config = tables.table, tables.config
        key = table.c[config.primary_key]
        if config.soft_delete is not None:
            flag = table.c[config.soft_delete]
            marker: Any = True if isinstance(flag.type, sa.Boolean) else to_column_value(flag, now)
            stamp = to_column_value(table.c[config.updated_at], now)
            values = {config.soft_delete: marker, config.updated_at: stamp}
            connection.execute(sa.update(table).where(key == pk).values(values))
            return
        if tables.lines is not None and tables.config.lines is not None:
            foreign = tables.lines.c[tables.config.lines.foreign_key]
            connection.execute(sa.delete(tables.lines).where(foreign == pk))
        connection.execute(sa.delete(table).where(key == pk))


def write_refusal(tables: EntityTables, doing: str) -> RecordError | None:
    """Why this entity may not be written through its tables, or None when it may."""
    mode = tables.config.write
    if mode in ("table", "staging") and (doing == "written" or mode == "table"):
        return None
    reason = {
        "none": "the settings give it no `write:` mode (the default for a configured ERP: "
        "say `write: table` only for tables you own)",
        "staging": "it is written through import tables, which create and update only",
        "api": "it is written through the ERP's API",
    }[mode]
    return RecordError(
        f"{tables.entity.value} is not {doing} here: {reason}", code="WRITE_NOT_ALLOWED"
    )


def _insert(connection: Connection, table: sa.Table, values: dict[str, Any]) -> Any:
    """Insert one row and return its primary key (RETURNING or the driver's last row id)."""
    inserted = connection.execute(sa.insert(table).values(values)).inserted_primary_key
    assert inserted is not None, "an INSERT always reports its primary key"
    return inserted[0]


def _prepare(
    tables: EntityTables, write: NativeWrite
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """Check a write's fields against the reflected columns and convert values to their types."""
    values = _column_values(tables.table, write.fields, skip={LINES_FIELD})
    lines = None
    raw_lines = write.fields.get(LINES_FIELD)
    if raw_lines is not None:
        if tables.lines is None:
            raise RecordError(
                f"{tables.table.name} has no lines table configured", code="UNKNOWN_COLUMN"
            )
        if not isinstance(raw_lines, list) or not all(isinstance(x, Mapping) for x in raw_lines):
            raise RecordError("lines must be a list of objects", code="INVALID_VALUE")
        lines = [_column_values(tables.lines, line, skip=set()) for line in raw_lines]
    return values, lines


def _column_values(table: sa.Table, fields: Mapping[str, Any], skip: set[str]) -> dict[str, Any]:
    unknown = sorted(name for name in fields if name not in table.c and name not in skip)
    if unknown:
        raise RecordError(
            f"table {table.name!r} has no column {', '.join(map(repr, unknown))}",
            code="UNKNOWN_COLUMN",
        )
    return {
        name: to_column_value(table.c[name], value)
        for name, value in fields.items()
        if name not in skip
    }
