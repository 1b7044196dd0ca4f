"""SQL mode: keyset-paged change reads and batched, transactional upserts on reflected tables.

Everything here is synchronous SQLAlchemy Core; the adapter runs it in a worker thread. Reads
never hold a connection or a transaction between pages (each page is its own short query), so a
long sync does not pin locks or snapshots on the ERP, and memory stays one page deep.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from adapters.erp_generic.coerce import (
    coerce_row,
    naive_timestamp_columns,
    same_stored,
    stored_moment,
    to_column_value,
)
from adapters.erp_generic.current_rows import NOT_READ, CurrentRows, read_current
from adapters.erp_generic.dberrors import classify, database_failure, record_error
from adapters.erp_generic.lines import match_lines
from adapters.erp_generic.quirks import (
    any_unreadable,
    lenient_columns,
    made_since,
    take_unreadable,
    unreadable_mark,
)
from adapters.erp_generic.reader import row_dicts, value_rows
from adapters.erp_generic.schema import EntityTables, ReflectedSchema
from adapters.erp_generic.settings import SqlSettings
from adapters.erp_generic.staging import write_staged
from adapters.erp_generic.warm import read_table
from adapters.erp_generic.writes import insert_new, insert_values
from connector.adapter import NativeRecord, NativeWrite, WriteResult
from connector.errors import AwaitingTarget, ConfigurationError, RecordError
from connector.model import Entity
from connector.timestamps import as_utc

Clock = Callable[[], dt.datetime]
LINES_FIELD = "lines"

#: Dialects with a native INSERT … ON CONFLICT DO UPDATE (sqlite ≥ 3.24, PostgreSQL ≥ 9.5).
#: MySQL's INSERT … ON DUPLICATE KEY UPDATE is not one: it fires on a clash with *any* unique
#: key, so a row whose customer number is taken would overwrite that customer instead of failing.
_ON_CONFLICT_INSERTS: dict[str, Callable[[sa.Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _is_record_level(error: sa.exc.DBAPIError) -> bool:
    return classify(error) == "record"


class SqlStore:
    """Reads and writes one ERP database through its reflected tables."""

    def __init__(
        self,
        engine: Engine,
        schema: ReflectedSchema,
        settings: SqlSettings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.engine = engine
        self.schema = schema
        self.settings = settings
        self.clock = clock
        self._on_conflict = _ON_CONFLICT_INSERTS.get(engine.dialect.name)
        #: Each reflected table's `warm.read_table`: reads compiled by an earlier open are kept.
        self._read_tables: dict[sa.Table, sa.Table] = {}

    def tables(self, entity: Entity) -> EntityTables:
        try:
            return self.schema.entities[entity]
        except KeyError:
            raise ConfigurationError(f"entity {entity.value!r} is not configured") from None

    # --- reads ----------------------------------------------------------------------------

    def _reads(self, table: sa.Table) -> sa.Table:
        """The table to build reads of `table` from (see `warm.read_table`)."""
        found = self._read_tables.get(table)
        if found is None:
            found = self._read_tables[table] = read_table(table)
        return found

    def iter_pages(self, entity: Entity, since: dt.datetime | None) -> Iterator[list[NativeRecord]]:
        """Pages of every row with `updated_at >= since`, ascending by (updated_at, primary key).

        Deletes recorded in a change-log table are merged into the same order.
        """
        tables = self.tables(entity)
        rows = self._iter_rows(tables, since)
        if tables.change_log is not None:
            order = _sort_key(tables)
            rows = heapq.merge(rows, self._iter_log(tables, since), key=order)
        size = self.settings.page_size
        while page := list(islice(rows, size)):
            yield page

    def _iter_rows(self, tables: EntityTables, since: dt.datetime | None) -> Iterator[NativeRecord]:
        table, config = self._reads(tables.table), tables.config
        return self._keyset(
            sa.select(table),
            table.c[config.updated_at],
            table.c[config.primary_key],
            since,
            lambda statement: self._fetch(tables, statement, "reading changes"),
            config.primary_key,
        )

    def _iter_log(self, tables: EntityTables, since: dt.datetime | None) -> Iterator[NativeRecord]:
        log, spec = tables.change_log, tables.config.change_log
        assert log is not None and spec is not None
        log = self._reads(log)
        stamp, key = log.c[spec.changed_at], log.c[spec.key_column]
        base = sa.select(key, stamp)
        if spec.entity_column is not None:
            base = base.where(log.c[spec.entity_column] == spec.entity_value)
        python_key = _key_converter(tables.table.c[tables.config.primary_key])
        pk_name = tables.config.primary_key

        def fetch(statement: sa.Select[Any]) -> list[NativeRecord]:
            try:
                with self.engine.connect() as connection:
                    rows = connection.execute(statement).all()
            except sa.exc.DBAPIError as error:
                raise database_failure(error, "reading the change log") from error
            return [
                NativeRecord(
                    id=str(deleted_key),
                    updated_at=_aware(deleted_at),
                    fields={pk_name: python_key(deleted_key)},
                    deleted=True,
                )
                for deleted_key, deleted_at in rows
            ]

        return self._keyset(base, stamp, key, since, fetch, pk_name)

    def _keyset(
        self,
        base: sa.Select[Any],
        stamp: sa.Column[Any],
        key: sa.Column[Any],
        since: dt.datetime | None,
        fetch: Callable[[sa.Select[Any]], list[NativeRecord]],
        key_field: str,
    ) -> Iterator[NativeRecord]:
        """Page through `base` in (stamp, key) order, each page a fresh short query."""
        size = self.settings.page_size
        base = base.where(stamp.is_not(None)).order_by(stamp, key).limit(size)
        condition: sa.ColumnElement[bool] | None = None
        if since is not None:
            condition = stamp >= to_column_value(stamp, since)
        while True:
            page = fetch(base if condition is None else base.where(condition))
            yield from page
            if len(page) < size:
                return
            last_stamp = to_column_value(stamp, page[-1].updated_at)
            last_key = to_column_value(key, page[-1].fields[key_field])
            # The `stamp >= last` conjunct lets an index on (updated_at, pk) serve the range;
            # the OR form of the row comparison works on every dialect (SQL Server has none).
            condition = sa.and_(
                stamp >= last_stamp,
                sa.or_(stamp > last_stamp, sa.and_(stamp == last_stamp, key > last_key)),
            )

    def _fetch(
        self, tables: EntityTables, statement: sa.Select[Any], doing: str
    ) -> list[NativeRecord]:
        mark = unreadable_mark()
        try:
            with self.engine.connect() as connection:
                result = connection.execute(statement)
                rows = row_dicts(list(result.keys()), result.all())
                if tables.lines is not None and rows:
                    self._attach_lines(connection, tables, rows)
        except sa.exc.DBAPIError as error:
            raise database_failure(error, doing) from error
        return _records(tables, rows, unreadable=made_since(mark))

    def _attach_lines(
        self, connection: Connection, tables: EntityTables, rows: list[dict[str, Any]]
    ) -> None:
        lines, spec = tables.lines, tables.config.lines
        assert lines is not None and spec is not None
        lines = self._reads(lines)
        parent_key = tables.config.primary_key
        by_parent: dict[Any, list[dict[str, Any]]] = {row[parent_key]: [] for row in rows}
        foreign = lines.c[spec.foreign_key]
        order = lines.c[spec.order_by] if spec.order_by else lines.c[spec.primary_key]
        statement = (
            sa.select(lines)
            .where(foreign.in_(list(by_parent)))
            .order_by(foreign, order, lines.c[spec.primary_key])
        )
        result = connection.execute(statement)
        names = list(result.keys())
        hidden = {spec.primary_key, spec.foreign_key}
        for values in result:
            line = dict(zip(names, values, strict=True))
            parent = line[spec.foreign_key]
            coerce_row(lines, line)
            by_parent[parent].append({k: v for k, v in line.items() if k not in hidden})
        for row in rows:
            row[LINES_FIELD] = by_parent[row[parent_key]]

    def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        tables = self.tables(entity)
        table = self._reads(tables.table)
        key = table.c[tables.config.primary_key]
        wanted = _convert_ids(key, ids)
        if not wanted:
            return []
        statement = sa.select(table).where(key.in_(wanted)).order_by(key)
        return self._fetch(tables, statement, "reading records")

    def lookup(
        self, entity: Entity, column_name: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]:
        tables = self.tables(entity)
        if column_name not in tables.table.c:
            raise ConfigurationError(
                f"cannot look {entity.value} up by {column_name!r}: "
                f"no such column in table {tables.table.name!r}"
            )
        table = self._reads(tables.table)
        column = table.c[column_name]
        wanted: dict[Any, str] = {}
        for value in values:
            try:
                wanted.setdefault(to_column_value(column, value), value)
            except RecordError:
                continue  # a value the column cannot hold matches no row
        if not wanted:
            return {}
        statement = sa.select(table).where(column.in_(list(wanted)))
        found: dict[str, NativeRecord] = {}
        for record in self._fetch(tables, statement, "looking records up"):
            stored = to_column_value(column, record.fields[column_name])
            found.setdefault(wanted.get(stored, str(stored)), record)
        return found

    def columns(self, entity: Entity) -> frozenset[str]:
        tables = self.tables(entity)
        if tables.plan is not None:
            return tables.plan.fields()
        names = set(tables.table.c.keys())
        if tables.lines is not None:
            names.add(LINES_FIELD)
        return frozenset(names)

    # --- writes ---------------------------------------------------------------------------

    def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        """Write a batch in one transaction; a row the database refuses fails alone."""
        tables = self.tables(entity)
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
            out: list[WriteResult] = []
            for write, values, lines in ready:
                savepoint = connection.begin_nested() if isolate else None
                try:
                    out.append(
                        self._write_one(connection, tables, write, values, lines, now, known)
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

    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        """Mark rows deleted (soft-delete column) or, if configured so, delete them."""
        tables = self.tables(entity)
        config = tables.config
        refused = write_refusal(tables, "deleted")
        if refused is not None:
            return [WriteResult(external_id, external_id, error=refused) for external_id in ids]
        if config.soft_delete is None and not config.hard_delete:
            error = RecordError(
                f"{entity.value} deletes are not configured (no soft_delete column)",
                code="DELETE_NOT_CONFIGURED",
            )
            return [WriteResult(external_id, external_id, error=error) for external_id in ids]
        key = tables.table.c[config.primary_key]
        pairs = [(external_id, _convert_id(key, external_id)) for external_id in ids]

        def delete_all(connection: Connection, isolate: bool) -> list[WriteResult]:
            now = self._now(tables)
            out: list[WriteResult] = []
            for external_id, pk in pairs:
                if pk is _NO_SUCH_ID:  # cannot exist, so it is already gone
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
        bound = _convert_ids(key, (w.external_id for w in writes if w.external_id is not None))
        unbound = [w.key for w in writes if w.external_id is None]
        return read_current(connection, tables, bound, unbound)

    def _write_one(
        self,
        connection: Connection,
        tables: EntityTables,
        write: NativeWrite,
        values: dict[str, Any],
        lines: list[dict[str, Any]] | None,
        now: dt.datetime,
        known: CurrentRows,
    ) -> WriteResult:
        """Insert, or update only the columns (and lines) whose stored value differs.

        A row whose values and lines already are what the write wants is not touched at all:
        its `updated_at` stays, so the ERP's change feed (and ours) does not see our echo.
        Inserts are completed and checked by writes.py; `write: staging` goes to staging.py.
        The row compared with comes from `known` (the batch's, read ahead) or a SELECT of its own.
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
            pk = _convert_id(key, write.external_id)
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
            if lines is not None and tables.lines is not None:
                self._sync_lines(connection, tables, pk, lines)
            return WriteResult(write.key, str(pk), created=created, updated_at=now)
        if current is NOT_READ:
            current = None if pk is _NO_SUCH_ID else known.take(pk)
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
        if lines is not None and tables.lines is not None:
            lines_changed = self._sync_lines(connection, tables, pk, lines)
        if not changes and not lines_changed:
            stamp = current[config.updated_at]
            return WriteResult(write.key, str(pk), updated_at=_aware(stamp) if stamp else None)
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

    def _sync_lines(
        self, connection: Connection, tables: EntityTables, pk: Any, lines: list[dict[str, Any]]
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


def _records(
    tables: EntityTables, rows: list[dict[str, Any]], *, unreadable: bool = True
) -> list[NativeRecord]:
    """Rows as native records. This is the per-row hot path of every read, so the names it
    needs are looked up once per page and the loop stays flat. `unreadable`: whether the rows
    may hold an `Unreadable` marker (`quirks.made_since`)."""
    config = tables.config
    naive = naive_timestamp_columns(tables.table)
    key, stamp, flag = config.primary_key, config.updated_at, config.soft_delete
    # SQLite numeric columns may hold what no number is (quirks.py): checked only if any.
    lenient = lenient_columns(tables.table) if unreadable else ()
    line_lenient = () if tables.lines is None or not unreadable else lenient_columns(tables.lines)
    utc, datetime = dt.UTC, dt.datetime
    records = []
    for row in rows:
        for name in naive:
            value = row[name]
            if value is not None and value.tzinfo is None:
                row[name] = as_utc(value)
        deleted = False
        if flag is not None:
            marker = row[flag]
            deleted = marker is not None and marker is not False and marker != 0
        # Looked for first: a value that is not `Unreadable` needs no work (nearly every row).
        problem = None
        if lenient and any_unreadable(row, lenient):
            problem = take_unreadable([("", row)], lenient)
        if problem is None and line_lenient and row.get(LINES_FIELD):
            problem = take_unreadable(value_rows({LINES_FIELD: row[LINES_FIELD]}), line_lenient)
        moment = row[stamp]
        if type(moment) is not datetime or moment.tzinfo is not utc:  # (made so just above)
            moment = _aware(moment)
        records.append(NativeRecord(str(row[key]), moment, row, deleted, problem))
    return records


def _aware(value: Any) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise RecordError(f"updated_at holds {type(value).__name__}, not a timestamp")
    if value.tzinfo is dt.UTC:
        return value
    if value.tzinfo is None:
        return as_utc(value)
    return value.astimezone(dt.UTC)


def _key_converter(column: sa.Column[Any]) -> Callable[[Any], Any]:
    return int if isinstance(column.type, sa.Integer) else str


_NO_SUCH_ID = object()


def _convert_id(column: sa.Column[Any], external_id: str) -> Any:
    """The id in the key column's type, or `_NO_SUCH_ID` when no row can have it."""
    try:
        return _key_converter(column)(external_id)
    except ValueError:
        return _NO_SUCH_ID


def _convert_ids(column: sa.Column[Any], ids: Iterable[str]) -> list[Any]:
    return [pk for pk in (_convert_id(column, i) for i in ids) if pk is not _NO_SUCH_ID]


def _sort_key(tables: EntityTables) -> Callable[[NativeRecord], tuple[dt.datetime, Any]]:
    name = tables.config.primary_key
    return lambda record: (record.updated_at, record.fields[name])
