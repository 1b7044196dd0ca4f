"""SQL mode: keyset-paged change reads on reflected tables; writes are sql_writes.py's.

Everything here is synchronous SQLAlchemy Core; the adapter runs it in a worker thread. Reads
never hold a connection or a transaction between pages (each page is its own short query), so a
long sync does not pin locks or snapshots on the ERP, and memory stays one page deep.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Hashable, Iterator, Sequence
from itertools import chain, islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from adapters.erp_generic.coerce import (
    aware_stamp,
    convert_ids,
    key_converter,
    naive_timestamp_columns,
    to_column_value,
)
from adapters.erp_generic.dberrors import database_failure
from adapters.erp_generic.keyset import AFTER, AT, SINCE, KeysetReads, keyset_reads
from adapters.erp_generic.quirks import (
    any_unreadable,
    lenient_columns,
    made_since,
    take_unreadable,
    unreadable_mark,
)
from adapters.erp_generic.reader import LINES_FIELD, Converters, fetch_dicts, value_rows
from adapters.erp_generic.schema import EntityTables, ReflectedSchema
from adapters.erp_generic.settings import SqlSettings
from adapters.erp_generic.sql_writes import SqlWriter
from adapters.erp_generic.warm import read_table
from connector.adapter import NativeRecord, NativeWrite, WriteResult
from connector.errors import ConfigurationError, RecordError
from connector.model import Entity
from connector.timestamps import WallClock, utc_now

__all__ = ["SqlStore"]


class SqlStore:
    """Reads and writes one ERP database through its reflected tables."""

    def __init__(
        self,
        engine: Engine,
        schema: ReflectedSchema,
        settings: SqlSettings,
        *,
        clock: WallClock = utc_now,
    ) -> None:
        self.engine = engine
        self.schema = schema
        self.settings = settings
        self.writer = SqlWriter(engine, clock=clock)
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
        pages = self._iter_rows(tables, since)
        if tables.change_log is None:
            # Each query's page is a page as it is: no generator step per record to re-cut
            # the same pages (the keyset reads `page_size` rows a query).
            yield from pages
            return
        order = _sort_key(tables)
        rows = heapq.merge(
            chain.from_iterable(pages),
            chain.from_iterable(self._iter_log(tables, since)),
            key=order,
        )
        size = self.settings.page_size
        while page := list(islice(rows, size)):
            yield page

    def _iter_rows(
        self, tables: EntityTables, since: dt.datetime | None
    ) -> Iterator[list[NativeRecord]]:
        table, config = self._reads(tables.table), tables.config
        stamp, key = table.c[config.updated_at], table.c[config.primary_key]
        size = self.settings.page_size
        reads = keyset_reads(("rows", table, stamp, key, size), sa.select(table), stamp, key, size)
        return self._keyset(
            reads,
            stamp,
            key,
            since,
            lambda statement, values: self._fetch(
                tables, statement, "reading changes", values, reads.converters
            ),
            config.primary_key,
        )

    def _iter_log(
        self, tables: EntityTables, since: dt.datetime | None
    ) -> Iterator[list[NativeRecord]]:
        log, spec = tables.change_log, tables.config.change_log
        assert log is not None and spec is not None
        log = self._reads(log)
        stamp, key = log.c[spec.changed_at], log.c[spec.key_column]
        base = sa.select(key, stamp)
        if spec.entity_column is not None:
            base = base.where(log.c[spec.entity_column] == spec.entity_value)
        size = self.settings.page_size
        reads = keyset_reads(
            ("log", log, stamp, key, spec.entity_column, spec.entity_value, size),
            base,
            stamp,
            key,
            size,
        )
        python_key = key_converter(tables.table.c[tables.config.primary_key])
        pk_name = tables.config.primary_key

        def fetch(statement: sa.Select[Any], values: dict[str, Any]) -> list[NativeRecord]:
            try:
                with self.engine.connect() as connection:
                    rows = connection.execute(statement, values).all()
            except sa.exc.DBAPIError as error:
                raise database_failure(error, "reading the change log") from error
            return [
                NativeRecord(
                    id=str(deleted_key),
                    updated_at=aware_stamp(deleted_at),
                    fields={pk_name: python_key(deleted_key)},
                    deleted=True,
                )
                for deleted_key, deleted_at in rows
            ]

        return self._keyset(reads, stamp, key, since, fetch, pk_name)

    def _keyset(
        self,
        reads: KeysetReads,
        stamp: sa.Column[Any],
        key: sa.Column[Any],
        since: dt.datetime | None,
        fetch: Callable[[sa.Select[Any], dict[str, Any]], list[NativeRecord]],
        key_field: str,
    ) -> Iterator[list[NativeRecord]]:
        """Page through `reads` in (stamp, key) order, each page a fresh short query; no page
        is empty."""
        size = self.settings.page_size
        statement, values = reads.first, {}
        if since is not None:
            statement, values = reads.since, {SINCE: to_column_value(stamp, since)}
        while True:
            page = fetch(statement, values)
            if page:
                yield page
            if len(page) < size:
                return
            statement = reads.after
            values = {
                AT: to_column_value(stamp, page[-1].updated_at),
                AFTER: to_column_value(key, page[-1].fields[key_field]),
            }

    def _fetch(
        self,
        tables: EntityTables,
        statement: sa.Select[Any],
        doing: str,
        values: dict[str, Any] | None = None,
        converters: dict[Hashable, Converters] | None = None,
    ) -> list[NativeRecord]:
        mark = unreadable_mark()
        aware = naive_timestamp_columns(tables.table)
        try:
            with self.engine.connect() as connection:
                rows = fetch_dicts(connection, statement, aware, values, converters)
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
        hidden = {spec.primary_key, spec.foreign_key}
        for line in fetch_dicts(connection, statement, naive_timestamp_columns(lines)):
            parent = line[spec.foreign_key]
            by_parent[parent].append({k: v for k, v in line.items() if k not in hidden})
        for row in rows:
            row[LINES_FIELD] = by_parent[row[parent_key]]

    def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        tables = self.tables(entity)
        table = self._reads(tables.table)
        key = table.c[tables.config.primary_key]
        wanted = convert_ids(key, ids)
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

    # --- writes (sql_writes.py) ------------------------------------------------------------

    def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        """Write a batch in one transaction; a row the database refuses fails alone."""
        return self.writer.upsert(self.tables(entity), writes)

    def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        """Mark rows deleted (soft-delete column) or, if configured so, delete them."""
        return self.writer.delete(self.tables(entity), ids)


def _records(
    tables: EntityTables, rows: list[dict[str, Any]], *, unreadable: bool = True
) -> list[NativeRecord]:
    """Rows as native records. This is the per-row hot path of every read, so the names it
    needs are looked up once per page and the loop stays flat. The rows' naive timestamps are
    aware UTC already (`fetch_dicts`). `unreadable`: whether the rows may hold an `Unreadable`
    marker (`quirks.made_since`)."""
    config = tables.config
    key, stamp, flag = config.primary_key, config.updated_at, config.soft_delete
    # SQLite numeric columns may hold what no number is (quirks.py): checked only if any.
    lenient = lenient_columns(tables.table) if unreadable else ()
    line_lenient = () if tables.lines is None or not unreadable else lenient_columns(tables.lines)
    utc, datetime = dt.UTC, dt.datetime
    records = []
    for row in rows:
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
        if type(moment) is not datetime or moment.tzinfo is not utc:  # (made so by the fetch)
            moment = aware_stamp(moment)
        records.append(NativeRecord(str(row[key]), moment, row, deleted, problem))
    return records


def _sort_key(tables: EntityTables) -> Callable[[NativeRecord], tuple[dt.datetime, Any]]:
    name = tables.config.primary_key
    return lambda record: (record.updated_at, record.fields[name])
