"""The store's hot-path statements: compiled once per database, run by the driver as they are.

A page of records reads its bindings with one query and writes them with one executemany per
set of columns. Through SQLAlchemy Core those cost more than the database did (bench/engine.py):
each row's parameters went one by one through the compiled statement's processors
(`_init_compiled`), each id of an `IN (...)` list was coerced into a bound parameter of its own,
and the dialects' ON CONFLICT constructs were compiled afresh on every call (they are not cached).

Here SQLAlchemy's compiler still writes each statement — quoting, ON CONFLICT, PostgreSQL's
casts — but once per dialect and in a positional paramstyle, and `Connection.exec_driver_sql`
hands the rows to the DBAPI cursor's `executemany` untouched — on PostgreSQL, whose psycopg runs
an executemany as one statement per row, as one statement over an array per column instead
(`_upsert_over_arrays`). SQLAlchemy still wraps the driver's errors, so a broken unique
constraint is an `IntegrityError` as before. Callers pass values the driver takes as they are:
strings; a snapshot's JSON text as `encode_snapshot` made it, never encoded again (PostgreSQL
casts it with the `::JSON` the compiler renders; MariaDB takes its bytes, `json_to_db`); and
datetimes through `datetime_to_db`, the `UtcDateTime` column type's own bind processing, so rows
are stored exactly as Core stored them.

A list of ids is one parameter, not one per id: a JSON array read with `json_each` on SQLite
(json1 is built into SQLite since 3.38: sqlite.org/json1.html#jeach), an array compared with
`= ANY` on PostgreSQL (postgresql.org/docs/current/functions-comparisons.html), a JSON array
made rows by `JSON_TABLE` on MariaDB (10.6+: mariadb.com/kb/en/json_table). So the SQL text
does not change with the length of the list, and no list is too long for the driver.

On MariaDB a SELECT's `IN (SELECT … FROM JSON_TABLE(…))` becomes a semi-join: the list is
materialised, then each id is one lookup in the unique index. An UPDATE's does not (MariaDB
before 11.1 runs it as a dependent subquery, once per row the rest of the WHERE leaves: 29 s
for 1,000 ids against 100,000 pending failures of one route), so the failures' resolution joins
the list instead (`UPDATE failures, JSON_TABLE(…)`: 2 ms for the same). A bounded `IN (%s, …)`
list rendered per length was the other way: as fast for a SELECT (7.5 ms against JSON_TABLE's
5.6 for 1,000 ids), but one statement text per length, and an UPDATE's still scans.

Upserts are `connector.state.upserts`': ON CONFLICT on SQLite and PostgreSQL, ON DUPLICATE KEY
UPDATE on MariaDB, guarded there so that a conflict on the bindings' other unique key still
fails instead of updating another key's row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Connection,
    CursorResult,
    Dialect,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.type_api import TypeEngine

from connector.state import schema
from connector.state.base import MYSQL_FAMILY
from connector.state.snapshots import decode_snapshot_text
from connector.state.upserts import upsert_statement

#: The positional paramstyle each supported database's statements are compiled in: a row is a
#: tuple in the statement's order, so no dict is built per row. PostgreSQL's drivers and
#: PyMySQL take `%s` as well as `%(name)s` (PEP 249 "format" and "pyformat").
_POSITIONAL = {"sqlite": "qmark", "postgresql": "format", "mysql": "format", "mariadb": "format"}


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL text for one dialect, and the names of its parameters in the order it takes them.

    An upsert on PostgreSQL also has `over_arrays`: the same upsert taking one array per column
    (`_upsert_over_arrays`), so that a run of rows is one execution instead of one per row.
    """

    sql: str
    names: tuple[str, ...]
    over_arrays: str | None = None
    #: The positions in a row of its conflict key, which no two rows of one execution over
    #: arrays may share (PostgreSQL refuses to update a row twice in one statement).
    key: tuple[int, ...] = ()

    def run(self, conn: Connection, **values: Any) -> CursorResult[Any]:
        """Execute once, the parameters given by name."""
        return conn.exec_driver_sql(self.sql, tuple(values[name] for name in self.names))

    def run_many(self, conn: Connection, rows: list[tuple[Any, ...]]) -> int:
        """Every row, in order: each a tuple in `names` order, already as the driver takes it.

        Over arrays where there are some and no two rows share a key (the engine's binds never
        do), else one executemany. Returns the rows it inserted or updated, summed over the
        rows (one statement's count is that sum; sqlite3 and psycopg sum an executemany's; an
        upsert's update skipped by its WHERE counts 0).
        """
        if not rows:
            return 0
        if self.over_arrays is not None and _distinct(rows, self.key):
            columns = tuple(list(column) for column in zip(*rows, strict=True))
            return int(conn.exec_driver_sql(self.over_arrays, columns).rowcount)
        return int(conn.exec_driver_sql(self.sql, rows).rowcount)


def _distinct(rows: list[tuple[Any, ...]], key: tuple[int, ...]) -> bool:
    """Whether no two rows hold the same values at the positions `key`."""
    return len(rows) == 1 or len(set(map(itemgetter(*key), rows))) == len(rows)


def _compile(
    dialect: Dialect, statement: ClauseElement, binary: frozenset[str] = frozenset()
) -> Statement:
    # For executemany: an INSERT gets no RETURNING of its primary key.
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect, for_executemany=True))
    names = tuple(compiled.positiontup or ())
    return Statement(_binary_placeholders(compiled.string, names, binary), names)


def _binary_placeholders(sql: str, names: tuple[str, ...], binary: frozenset[str]) -> str:
    """PostgreSQL: the parameters named in `binary` sent in binary (psycopg's `%b`).

    psycopg dumps a list for `%s` as an array's text, element by element in Python with a
    regular expression for the quoting of each (`ListDumper`): ~100 µs a row for the upsert
    over arrays, whose snapshots are full of quotes, against ~3 µs in binary, where each element
    is its length and its bytes (`ListBinaryDumper`). The values are the same either way.
    psycopg.org/psycopg3/docs/basic/params.html#binary-parameters-and-results
    """
    if not binary:
        return sql
    pieces = sql.split("%s")
    if len(pieces) != len(names) + 1:
        raise AssertionError(f"{len(pieces) - 1} placeholders for {len(names)} parameters")
    marks = ["%b" if name in binary else "%s" for name in names]
    return pieces[0] + "".join(mark + piece for mark, piece in zip(marks, pieces[1:], strict=True))


class json_ids(FunctionElement[Any]):  # lower case, as SQL functions are
    """MariaDB: the strings of a JSON array, as the rows of one column `item` (JSON_TABLE).

    The column has the store's own collation (the migrations'), so an id compares with the
    indexed columns exactly. JSON_TABLE cuts a longer string to the column's length (with a
    warning, even in strict mode): one character more than the longest stored id
    (`external_id`, 255) keeps a cut id longer than any stored one, so it still matches none.
    """

    name = "json_ids"
    inherit_cache = True


@compiles(json_ids)
def _json_table(element: json_ids, compiler: SQLCompiler, **kw: Any) -> str:
    array = compiler.process(element.clauses, **kw)
    return (
        f"JSON_TABLE({array}, '$[*]' COLUMNS (item VARCHAR(256) CHARACTER SET utf8mb4 "
        "COLLATE utf8mb4_nopad_bin PATH '$'))"
    )


def _id_rows(dialect: Dialect, name: str) -> Any:
    """The ids in parameter `name` as a table of one column (`json_each` or `JSON_TABLE`)."""
    array = bindparam(name, type_=String)
    if dialect.name in MYSQL_FAMILY:
        return json_ids(array).table_valued("item").alias("ids")
    return func.json_each(array).table_valued("value")


def _in_list(dialect: Dialect, column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """`column IN (the ids in parameter name)`, the whole list bound as one parameter."""
    if dialect.name == "postgresql":  # (sent in binary: see `_binary_placeholders`)
        return column == any_(bindparam(name, type_=ARRAY(String)))
    ids = _id_rows(dialect, name)
    return column.in_(select(ids.columns[0]))


#: Two digits of each number below 100, and the text of each day formatted ("YYYY-MM-DD ") by
#: its ordinal: what `_sqlite_datetime_to_db` puts together (the days cleared past `_DAYS_KEPT`).
_TWO_DIGITS = tuple(f"{number:02d}" for number in range(100))
_DAYS: dict[int, str] = {}
_DAYS_KEPT = 4096


def _sqlite_datetime_to_db(value: dt.datetime | None) -> str | None:
    """An aware datetime as the text `UtcDateTime` stores on SQLite, in one call.

    SQLAlchemy's SQLite `DATETIME` writes "%(year)04d-…%(microsecond)06d" from a dict of the
    fields, behind the type's own check and conversion to naive UTC: ~2.5 µs, once per source
    binding a run writes. The same text is put together here from the day's text (kept: the
    times a page binds fall on few days), two digits each for the time and the microseconds
    as the digits of 1,000,000 more: ~5,000 instructions a value where `isoformat`, whose
    `PyUnicode_FromFormat` runs `sprintf` per field and formats the offset it then cuts off,
    took ~12,900 (callgrind). `_same_text` checks the text is SQLAlchemy's when the statements
    are built, and SQLAlchemy's processors are kept if it is not. A subclass of datetime (its
    own fields or `isoformat`, perhaps) is written by `isoformat` as before.
    """
    if value is None:
        return None
    if value.tzinfo is not dt.UTC or type(value) is not dt.datetime:
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError("the store only takes timezone-aware datetimes")
        if value.tzinfo is not dt.UTC:
            value = value.astimezone(dt.UTC)
        if type(value) is not dt.datetime:
            return value.isoformat(" ", "microseconds")[: -len("+00:00")]
    day = _DAYS.get(value.toordinal())
    if day is None:
        if len(_DAYS) >= _DAYS_KEPT:
            _DAYS.clear()
        day = _DAYS[value.toordinal()] = f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
    two = _TWO_DIGITS
    microseconds = str(1_000_000 + value.microsecond)[1:]
    return f"{day}{two[value.hour]}:{two[value.minute]}:{two[value.second]}.{microseconds}"


def _sqlite_datetime_from_db(
    core: Callable[[Any], dt.datetime | None],
) -> Callable[[Any], dt.datetime | None]:
    """`UtcDateTime`'s text on SQLite back as an aware UTC datetime, in one call.

    SQLAlchemy's SQLite `DATETIME` parses the text with a regular expression, then the type
    re-attaches UTC with `replace` (callgrind: ~13,800 instructions, once per source binding an
    incremental run reads); `fromisoformat` given the text with UTC's offset returns the aware
    value at once (~2,200; docs.python.org/3/library/datetime.html#datetime.datetime.fromisoformat).
    Text it does not read as a UTC time (none that the store writes) goes to SQLAlchemy's
    processor, `core`; `_same_values` checks the two agree when the statements are built.
    """
    parse, utc = dt.datetime.fromisoformat, dt.UTC

    def from_db(value: Any) -> dt.datetime | None:
        if value is None:
            return None
        try:
            parsed = parse(value + "+00:00")
        except (TypeError, ValueError):
            return core(value)
        # (3.11 reads a date alone with an offset as a naive midnight: that goes to `core`)
        return parsed if parsed.tzinfo is utc else core(value)

    return from_db


def _json_to_db(text: str) -> bytes:
    """MariaDB: a snapshot's JSON text as its UTF-8 bytes, which PyMySQL writes as a hex literal.

    PyMySQL escapes a `str` parameter character by character for the text protocol; a
    snapshot is ~1,000 characters with a hundred quotes to escape (3.7 µs, with
    `connector.state.mysqlquote`), where `bytes` become `X'…'` in one C call (1.2 µs). MariaDB
    takes the bytes into the utf8mb4 column as the same text, and refuses bytes that are not
    UTF-8 (error 1366, strict mode) instead of storing something else.
    """
    return text.encode()


def _as_it_is(text: str) -> str:
    return text


def _same_text(
    core: Callable[[dt.datetime | None], Any], ours: Callable[[dt.datetime | None], Any]
) -> bool:
    """Whether two datetime processors store the same values the same way."""
    paris = dt.timezone(dt.timedelta(hours=2))
    samples = [
        None,
        dt.datetime(2026, 5, 1, 14, 30, 15, 123456, tzinfo=paris),
        dt.datetime(2026, 1, 1, 0, 30, tzinfo=paris),  # the day before in UTC, no microseconds
        dt.datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=dt.UTC),  # a year of three digits
    ]
    return all(core(sample) == ours(sample) for sample in samples)


def _same_values(
    to_db: Callable[[dt.datetime | None], Any], core: Callable[[Any], dt.datetime | None]
) -> bool:
    """Whether `_sqlite_datetime_from_db` reads back what `core` reads from stored text."""
    ours = _sqlite_datetime_from_db(core)
    samples = [
        None,
        dt.datetime(2026, 5, 1, 14, 30, 15, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.UTC),  # no microseconds
        dt.datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=dt.UTC),  # a year of three digits
    ]
    for sample in samples:
        text = to_db(sample)
        got, want = ours(text), core(text)
        if got != want or (got is not None and want is not None and got.tzinfo is not dt.UTC):
            return False
    return True


def _both_sides(dialect: Dialect) -> Select[Any]:
    """The bindings of the external ids in `ids` in one system, each with its key's binding in
    system `other` joined (LEFT OUTER: NULLs where the key is not bound there).

    A page of updates needs both: the source's by external id (with the keys), the target's by
    those keys. Two statements read them before (by external id, then `bindings_by_key`): two
    checkouts, two id lists written as JSON and parsed by the database, on SQLite two lists
    materialised into an index before the look-ups, two rows a record to fetch. Joined, the
    target's binding is one look-up in `uq_bindings_key` for each source row found, on the
    three databases (EXPLAIN: a nested loop of unique-index look-ups). Callgrind: the
    statements alone 46,800 → 36,100 instructions a record (909 ids, SQLite); a page of
    updates' reads 118,600 → 106,550 (bench/bind_read.py); an update 1,168,350 → 1,156,137
    (bench/README.md, "bindread").
    """
    bindings = schema.bindings
    one, other = bindings.alias("one"), bindings.alias("other")
    joined = one.outerjoin(
        other,
        and_(
            other.c.entity == bindparam("entity"),
            other.c.key == one.c.key,
            other.c.system == bindparam("other"),
        ),
    )
    return (
        select(
            one.c.key,
            one.c.external_id,
            one.c.snapshot,
            one.c.hash,
            one.c.remote_updated_at,
            other.c.external_id,
            other.c.snapshot,
            other.c.hash,
            other.c.remote_updated_at,
        )
        .select_from(joined)
        .where(
            one.c.entity == bindparam("entity"),
            one.c.system == bindparam("system"),
            _in_list(dialect, one.c.external_id, "ids"),
        )
    )


class HotPath:
    """The hot-path statements of one dialect, and its conversions of the store's own types."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._upserts: dict[
            tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]],
            Statement,
        ] = {}
        utc = schema.UtcDateTime().dialect_impl(dialect)
        to_db, from_db = utc.bind_processor(dialect), utc.result_processor(dialect, None)
        assert to_db is not None and from_db is not None
        if dialect.name == "sqlite" and _same_text(to_db, _sqlite_datetime_to_db):
            to_db = _sqlite_datetime_to_db
        read: Callable[[Any], dt.datetime | None] = from_db
        if dialect.name == "sqlite" and _same_values(to_db, read):
            read = _sqlite_datetime_from_db(read)
        #: An aware datetime as this dialect stores it in a `UtcDateTime` column, and back.
        self.datetime_to_db: Callable[[dt.datetime | None], Any] = to_db
        self.datetime_from_db: Callable[[Any], dt.datetime | None] = read
        #: A snapshot's JSON text as the driver takes it for a JSON column (`_json_to_db`).
        self.json_to_db: Callable[[str], Any] = (
            _json_to_db if dialect.name in MYSQL_FAMILY else _as_it_is
        )
        #: Whether `json_to_db` gives the text as it is (a page's binds then skip the call).
        self.json_as_it_is = self.json_to_db is _as_it_is

        #: The parameters that are lists: arrays in binary on PostgreSQL, JSON text elsewhere.
        lists = frozenset({"ids"}) if dialect.name == "postgresql" else frozenset()
        bindings = schema.bindings
        whole = (
            bindings.c.key,
            bindings.c.external_id,
            bindings.c.snapshot,
            bindings.c.hash,
            bindings.c.remote_updated_at,
        )
        of_system = (
            bindings.c.entity == bindparam("entity"),
            bindings.c.system == bindparam("system"),
        )
        by_key = select(*whole).where(*of_system, _in_list(dialect, bindings.c.key, "ids"))
        #: key, external id, snapshot, hash, remote time of the bindings of some keys.
        self.bindings_by_key = _compile(dialect, by_key, lists)
        #: The same columns, of the bindings of some external ids in one system, each followed
        #: by the external id, snapshot, hash and remote time of its key's binding in another
        #: system (`other`; NULLs where the key is not bound there): a page of updates' keys
        #: and both sides' bindings in one statement (`BindingStore.both_sides_by_id`).
        self.both_sides_by_external_id = _compile(dialect, _both_sides(dialect), lists)
        keys_by_id = select(bindings.c.external_id, bindings.c.key).where(
            *of_system, _in_list(dialect, bindings.c.external_id, "ids")
        )
        #: external id, key of the bindings of some external ids.
        self.keys_by_external_id = _compile(dialect, keys_by_id, lists)

        failures = schema.failures
        #: A route's pending failures of one entity: what both failure statements look at.
        pending_of_entity = (
            failures.c.route == bindparam("route"),
            failures.c.entity == bindparam("entity"),
            failures.c.status == bindparam("pending"),
        )
        if dialect.name in MYSQL_FAMILY:
            # Joined, not `IN (SELECT …)`: see the module's docstring.
            ids = _id_rows(dialect, "ids")
            listed = failures.c.external_id == ids.columns[0]
        else:
            listed = _in_list(dialect, failures.c.external_id, "ids")
        resolve = (
            update(failures)
            .where(*pending_of_entity, listed)
            .values(status=bindparam("resolved"), updated_at=bindparam("now", type_=utc))
        )
        #: Resolve the pending failures of some source ids (statuses passed as parameters).
        self.resolve_failures = _compile(dialect, resolve, lists)
        any_pending = select(exists().where(*pending_of_entity))
        #: Whether a route's entity has a pending failure at all (one look in an index).
        self.any_pending_failure = _compile(dialect, any_pending)

        leases = schema.leases
        fence = (
            update(leases)
            .where(
                leases.c.name == bindparam("name"),
                leases.c.holder == bindparam("holder"),
                leases.c.token == bindparam("token"),
            )
            .values(token=leases.c.token)
        )
        #: Touch (and lock) a lease row if it still has this holder and token.
        self.fence = _compile(dialect, fence)

    def ids(self, ids: Iterable[str]) -> Any:
        """A list of ids as the one parameter the statements' id lists take."""
        if self.dialect.name == "postgresql":
            return list(ids)
        return json.dumps(list(ids))

    @staticmethod
    def json_from_db(value: Any) -> Any:
        """A JSON column's value: psycopg decodes JSON itself, sqlite3 and PyMySQL hand back
        the text."""
        return decode_snapshot_text(value) if isinstance(value, str) else value

    def upsert(
        self,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        updates: Sequence[str],
        *,
        same: Sequence[str] = (),
    ) -> Statement:
        """INSERT, or on a conflict on `conflict` UPDATE `updates`, taking `columns` in order.

        `columns` must be in the table's order, the order the compiler renders values in. With
        `same`, an existing row is updated only where it holds the given values in those
        columns (`DO UPDATE … WHERE`); a row left alone counts 0 in `run_many`'s result.
        """
        shape = (table.name, tuple(columns), tuple(conflict), tuple(updates), tuple(same))
        found = self._upserts.get(shape)
        if found is not None:
            return found
        statement = upsert_statement(
            self.dialect.name,
            table,
            conflict,
            lambda proposed: {column: proposed[column] for column in updates},
            {column: bindparam(column) for column in columns},
            same=same,
        )
        compiled = _compile(self.dialect, statement)
        if compiled.names != shape[1]:  # callers build their rows in `columns` order
            raise AssertionError(f"{table.name}: compiled as {compiled.names}, not {columns}")
        if self.dialect.name == "postgresql":
            over_arrays = _compile(
                self.dialect,
                _upsert_over_arrays(table, columns, conflict, updates, same),
                frozenset(columns),
            )
            if over_arrays.names != shape[1]:
                raise AssertionError(f"{table.name}: over arrays, {over_arrays.names}")
            key = tuple(columns.index(column) for column in conflict)
            compiled = replace(compiled, over_arrays=over_arrays.sql, key=key)
        self._upserts[shape] = compiled
        return compiled


def _upsert_over_arrays(
    table: Table,
    columns: Sequence[str],
    conflict: Sequence[str],
    updates: Sequence[str],
    same: Sequence[str],
) -> Insert:
    """PostgreSQL: `HotPath.upsert`'s statement, its rows the elements of one array per column.

    psycopg's executemany sends each row as its own statement in pipeline mode, and its Python
    work per row (dumping the parameters, the prepared-statement bookkeeping, reading each
    row's result) cost ~12 µs of the client's CPU a row of bindings, ~25 µs a first-synced
    record (bench/README.md, "pgstore"); the arrays, in binary, cost ~3 µs a row.
    psycopg.org/psycopg3/docs/api/cursors.html#psycopg.Cursor.executemany

    The rows are proposed in their order (`WITH ORDINALITY`), and each is checked against the
    unique keys as it is inserted or updated, as one statement per row would be: a key that
    moves frees its old external id for a later row, a later row taking an id that an earlier
    one still holds fails. (Two rows with the same conflict key are not sent this way: "ON
    CONFLICT DO UPDATE command cannot affect row a second time".) A string column's array is
    cast to VARCHAR[] with no length: an explicit cast to VARCHAR(n) would cut a longer value
    where the INSERT refuses it (postgresql.org/docs/current/datatype-character.html).
    """
    arrays = [bindparam(name, type_=ARRAY(_element_type(table.c[name].type))) for name in columns]
    proposed = (
        func.unnest(*arrays)
        .table_valued(*columns, with_ordinality="ordinality")
        .render_derived(name="proposed")
    )
    rows = select(*(proposed.c[name] for name in columns)).order_by(proposed.c.ordinality)
    return upsert_statement(
        "postgresql",
        table,
        conflict,
        lambda excluded: {column: excluded[column] for column in updates},
        same=same,
        rows=(columns, rows),
    )


def _element_type(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type of an array's elements for a column: its own, a string's without its length."""
    return String() if isinstance(column_type, String) else column_type


def hot_path(dialect: Dialect) -> HotPath:
    """The `HotPath` of `dialect`'s database (built on first use, then kept)."""
    style = _POSITIONAL.get(dialect.name)
    if style is None:
        raise ValueError(f"the state store does not run on {dialect.name!r}")
    found = _HOT_PATHS.get(type(dialect))
    if found is None:
        # The engine's own dialect class, told to render positionally (psycopg's default is
        # named); one per class for the life of the process.
        found = _HOT_PATHS[type(dialect)] = HotPath(cast(Any, type(dialect))(paramstyle=style))
    return found


_HOT_PATHS: dict[type[Dialect], HotPath] = {}
