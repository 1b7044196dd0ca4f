"""Compile an entity's `read:` settings into a `ReadPlan`: what to select, from where, and how.

The source is the reflected table or the user's SELECT wrapped as a subquery; related fields
become correlated scalar subqueries on reflected tables (every table and column name is looked
up in the reflected schema first, never pasted into SQL); the row filter, the soft-delete
expression and a change expression are the user's own SQL from config.yaml, like a view they
could not create. `check_plan` runs the plan once with LIMIT 1, so `connector check` reports a
broken query, a missing key or change column, or a change value of the wrong type.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp_generic.coerce import to_column_value
from adapters.erp_generic.settings import Change, Checksum, HistoryQueries, Related, SqlEntity
from connector.errors import Problem, RecordError
from connector.model import Entity
from connector.timestamps import as_utc

#: Labels of the helper columns a plan selects beside the source's own.
STAMP, DELETED = "__changed", "__deleted"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: strptime directives in the order that makes their text sort like time.
_ORDERED = ("%Y", "%m", "%d", "%H", "%M", "%S", "%f")

Reflect = Callable[[str, str, str | None], sa.Table | None]


@dataclass(frozen=True)
class Child:
    """Rows of `table` whose `foreign_key` equals a row's `parent_column` are its children."""

    table: sa.Table
    foreign_key: str
    parent_column: str
    ignore: frozenset[str]


@dataclass(frozen=True)
class ReadPlan:
    """Everything the reader needs to page through one entity."""

    entity: Entity
    config: SqlEntity
    source: sa.FromClause
    key: sa.ColumnElement[Any]
    key_name: str
    columns: list[sa.ColumnElement[Any]]
    where: list[sa.ColumnElement[bool]]
    change: Change | None
    stamp: sa.ColumnElement[Any] | None
    #: Whether comparing the change value in SQL orders like time (else it is sorted here).
    sortable: bool
    #: Whether the naive change values of a timestamp column/expression are UTC wall clock.
    aware_stamp: bool
    checksum: Checksum | None = None
    children: list[Child] = field(default_factory=list)
    line_columns: list[sa.ColumnElement[Any]] = field(default_factory=list)
    history: HistoryQueries | None = None
    #: The history figures' names (native fields of the entity).
    figures: tuple[str, ...] = ()

    def fields(self) -> frozenset[str]:
        """The native fields a record of this plan has (mapping files are checked on them)."""
        names = {str(c.key) for c in self.columns} - {STAMP, DELETED}
        if self.config.lines is not None:
            names.add("lines")
        return frozenset(names | set(self.figures))

    def select(self) -> sa.Select[Any]:
        return sa.select(*self.columns).select_from(self.source).where(*self.where)


def sortable_format(fmt: str) -> bool:
    """Whether text in this strptime format sorts like the time it holds (`%Y-%m-%d %H:%M`)."""
    directives = re.findall(r"%.", fmt)
    fixed = re.sub(r"%.", "", fmt)
    return (
        tuple(directives) == _ORDERED[: len(directives)]
        and bool(directives)
        and not re.search(r"[%A-SU-Ya-z0-9]", fixed)  # separators, or ISO's T and Z
    )


def compile_plan(
    entity: Entity,
    config: SqlEntity,
    table: sa.Table,
    reflect: Reflect,
    connection: Connection,
    location: str,
    at: str,
    problems: list[Problem],
) -> ReadPlan | None:
    """The plan for one entity, or None with the reasons appended to `problems`.

    `reflect(at, name, schema)` reflects a table, reporting a missing one at
    `location.at`; `at` is the entity's place under `location` (`entities.customer`).
    """
    spec = config.read
    assert spec is not None
    where = f"{location}.{at}"
    relative = reflect

    def reflected(place: str, name: str, schema: str | None) -> sa.Table | None:
        return relative(place.removeprefix(f"{location}."), name, schema)

    reflect = reflected

    before = len(problems)
    source: sa.FromClause = table
    if spec.query is not None:
        names = _query_columns(connection, spec.query, f"{where}.read.query", problems)
        if names is None:
            return None
        # A column named like one of the table's takes its type (so keys and timestamps bind
        # and read as they do from the table); others come back as the driver gives them.
        typed = [sa.column(n, table.c[n].type if n in table.c else None) for n in names]
        source = sa.text(spec.query).columns(*typed).subquery("src")
    known = list(source.c.keys())
    if config.primary_key not in source.c:
        problems.append(
            Problem(f"{where}.primary_key", f"the source has no column {config.primary_key!r}")
        )
        return None
    key = source.c[config.primary_key]
    columns: list[sa.ColumnElement[Any]] = list(source.c)
    for name, related in spec.related.items():
        at_name = f"{where}.read.related.{name}"
        value = related_value(related, source, reflect, at_name, problems, config.db_schema)
        if value is not None:
            if name in known:
                problems.append(
                    Problem(f"{where}.read.related.{name}", "the source has a column of that name")
                )
            columns.append(value.label(name))
    change = spec.change
    if change is None and spec.checksum is None:
        change = Change(column=config.updated_at)
    stamp, sortable, aware = None, True, False
    if change is not None:
        stamp, sortable, aware = _stamp(change, source, f"{where}.read.change", problems)
        if stamp is not None:
            columns.append(sa.type_coerce(stamp, sa.types.NullType()).label(STAMP))
    if spec.deleted_when is not None:
        flag = sa.case((sa.literal_column(f"({spec.deleted_when})", sa.Boolean), 1), else_=0)
        columns.append(flag.label(DELETED))
    elif config.soft_delete is not None:  # the plain setting still holds under `read:`
        if config.soft_delete not in source.c:
            problems.append(
                Problem(f"{where}.soft_delete", f"the source has no column {config.soft_delete!r}")
            )
        else:
            marker = source.c[config.soft_delete]
            marked = (
                marker.is_(True) if isinstance(marker.type, sa.Boolean) else marker.is_not(None)
            )
            columns.append(sa.case((marked, 1), else_=0).label(DELETED))
    if config.change_log is not None:
        problems.append(
            Problem(
                f"{where}.change_log",
                "not read under `read:`; use `read.checksum` (vanished rows are deletes)",
            )
        )
    conditions: list[sa.ColumnElement[bool]] = []
    if spec.filter is not None:
        conditions.append(sa.literal_column(f"({spec.filter})", sa.Boolean))
    children: list[Child] = []
    if spec.checksum is not None:
        for index, child in enumerate(spec.checksum.children):
            at = f"{where}.read.checksum.children.{index}"
            found = reflect(f"{at}.table", child.table, config.db_schema)
            if found is None:
                continue
            missing = [c for c in (child.foreign_key, *child.ignore) if c not in found.c]
            if missing:
                problems.append(Problem(at, f"table {child.table!r} has no column {missing[0]!r}"))
                continue
            parent = child.parent_column or config.primary_key
            if parent not in source.c:
                problems.append(Problem(f"{at}.parent_column", f"no column {parent!r} here"))
                continue
            children.append(Child(found, child.foreign_key, parent, frozenset(child.ignore)))
    line_columns: list[sa.ColumnElement[Any]] = []
    lines = config.lines
    if lines is not None:
        lines_table = reflect(f"{where}.lines.table", lines.table, config.db_schema)
        if lines_table is not None:
            line_columns = list(lines_table.c)
            if spec.checksum is not None and lines.table not in [c.table.name for c in children]:
                hidden = frozenset({lines.primary_key})
                children.append(Child(lines_table, lines.foreign_key, config.primary_key, hidden))
            for name, related in spec.line_related.items():
                at = f"{where}.read.line_related.{name}"
                value = related_value(related, lines_table, reflect, at, problems, config.db_schema)
                if value is not None:
                    line_columns.append(value.label(name))
    elif spec.line_related:
        problems.append(Problem(f"{where}.read.line_related", "needs a `lines` table"))
    figures: tuple[str, ...] = ()
    if spec.history is not None:
        figures = _figure_columns(connection, spec.history, f"{where}.read.history", problems)
    if len(problems) > before:
        return None
    plan = ReadPlan(
        entity=entity,
        config=config,
        source=source,
        key=key,
        key_name=config.primary_key,
        columns=columns,
        where=conditions,
        change=change,
        stamp=stamp,
        sortable=sortable,
        aware_stamp=aware,
        checksum=spec.checksum,
        children=children,
        line_columns=line_columns,
        history=spec.history,
        figures=figures,
    )
    check_plan(plan, connection, where, problems)
    return None if len(problems) > before else plan


def related_value(
    spec: Related,
    outer: sa.FromClause,
    reflect: Reflect,
    where: str,
    problems: list[Problem],
    schema: str | None = None,
) -> sa.ScalarSelect[Any] | None:
    """`spec` as a correlated scalar subquery on `outer` (None, with problems, if it cannot).

    The other table is looked for in `spec.schema`, else in `schema` (the entity's).
    """
    schema = spec.schema_ if spec.schema_ is not None else schema
    table = reflect(f"{where}.table", spec.table, schema)
    if table is None:
        return None
    other = table.alias()
    wanted = [*spec.match, *spec.where, *spec.order_by, *([spec.column] if spec.column else [])]
    for name in wanted:
        if name not in table.c:
            problems.append(Problem(where, f"column {name!r} not found in table {spec.table!r}"))
            return None
    for name in spec.match.values():
        if name not in outer.c:
            problems.append(Problem(f"{where}.match", f"the source has no column {name!r}"))
            return None
    conditions = [other.c[theirs] == outer.c[ours] for theirs, ours in spec.match.items()]
    for name, wanted_value in spec.where.items():
        column = other.c[name]
        if wanted_value is None:
            conditions.append(column.is_(None))
            continue
        try:
            conditions.append(column == to_column_value(table.c[name], wanted_value))
        except RecordError as error:
            problems.append(Problem(f"{where}.where.{name}", str(error)))
            return None
    if spec.then is not None:
        inner = related_value(spec.then, other, reflect, f"{where}.then", problems, schema)
        if inner is None:
            return None
        value: sa.ColumnElement[Any] = inner
    else:
        assert spec.column is not None
        value = other.c[spec.column]
    order: list[sa.ColumnElement[Any]] = [other.c[name] for name in spec.order_by] or [
        other.c[c.name] for c in table.primary_key.columns
    ]
    if spec.descending:
        order = [column.desc() for column in order]
    statement: sa.Select[Any] = sa.select(value).where(*conditions).order_by(*order).limit(1)
    return statement.correlate(outer).scalar_subquery()


def _query_columns(
    connection: Connection, query: str, where: str, problems: list[Problem]
) -> list[str] | None:
    """The column names the user's SELECT gives, asked of the database without reading rows."""
    probe: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(
        sa.text(query).columns().subquery("q")
    )
    try:
        with connection.begin_nested():
            result = connection.execute(probe.where(sa.false()))
            names = list(result.keys())
            result.close()
    except sa.exc.DBAPIError as error:
        problems.append(Problem(where, f"the query fails: {_first_line(error)}"))
        return None
    if len(set(names)) != len(names):
        problems.append(Problem(where, "the query gives two columns of one name (alias them)"))
        return None
    return names


def _figure_columns(
    connection: Connection, spec: HistoryQueries, where: str, problems: list[Problem]
) -> tuple[str, ...]:
    """The figure names the history queries give (each run once with no customers)."""
    names: list[str] = list(spec.figures)
    queries = [("query", spec.query)] if spec.query else []
    queries += [(f"figures.{name}", sql) for name, sql in spec.figures.items()]
    for place, sql in queries:
        statement = sa.text(sql).bindparams(sa.bindparam("ids", [], expanding=True))
        try:
            with connection.begin_nested():
                result = connection.execute(statement)
                columns = list(result.keys())
                result.close()
        except sa.exc.DBAPIError as error:
            problems.append(Problem(f"{where}.{place}", f"the query fails: {_first_line(error)}"))
            continue
        except sa.exc.ArgumentError as error:
            problems.append(Problem(f"{where}.{place}", str(error)))
            continue
        if spec.key_column not in columns:
            problems.append(
                Problem(
                    f"{where}.{place}",
                    f"the query gives no {spec.key_column!r} column (the customer key)",
                )
            )
        elif place == "query":
            names += [c for c in columns if c != spec.key_column and c not in names]
    return tuple(names)


_KIND_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "timestamp": sa.DateTime(),
    "date": sa.Date(),
    "text": sa.String(),
    "epoch": sa.Float(),
    "epoch_ms": sa.Float(),
}


def _stamp(
    change: Change, source: sa.FromClause, where: str, problems: list[Problem]
) -> tuple[sa.ColumnElement[Any] | None, bool, bool]:
    """The change value's expression, whether SQL orders it like time, and whether tz-aware."""
    sortable = change.type != "text" or sortable_format(change.format or "")
    if change.expression is not None:
        return (
            sa.literal_column(f"({change.expression})", _KIND_TYPES[change.type]),
            sortable,
            False,
        )
    assert change.column is not None
    if change.column not in source.c:
        problems.append(Problem(f"{where}.column", f"the source has no column {change.column!r}"))
        return None, sortable, False
    column = source.c[change.column]
    aware = isinstance(column.type, sa.DateTime) and bool(column.type.timezone)
    return column, sortable, aware


def check_plan(plan: ReadPlan, connection: Connection, where: str, problems: list[Problem]) -> None:
    """Run the plan on one row: the SQL must work and the change value must be of its kind."""
    try:
        with connection.begin_nested():
            row = connection.execute(plan.select().limit(1)).mappings().first()
    except sa.exc.DBAPIError as error:
        problems.append(Problem(f"{where}.read", f"reading fails: {_first_line(error)}"))
        return
    if row is None or plan.change is None or plan.stamp is None:
        return
    try:
        decode_stamp(plan.change, row[STAMP])
    except RecordError as error:
        problems.append(Problem(f"{where}.read.change", str(error)))


def decode_stamp(change: Change, value: Any) -> dt.datetime | None:
    """A change value as an aware UTC datetime; None stays None; raises RecordError."""
    if value is None:
        return None
    try:
        moment = _decode(change, value)
    except (TypeError, ValueError, OverflowError):
        what = change.column or change.expression
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise RecordError(
            f"change value {what!r} holds {shown}, not a {change.type}"
            + (f" in format {change.format!r}" if change.format else ""),
            code="INVALID_VALUE",
        ) from None
    if moment.tzinfo is None:
        return as_utc(moment)
    return moment.astimezone(dt.UTC)


def _decode(change: Change, value: Any) -> dt.datetime:
    kind = change.type
    if isinstance(value, bytes):
        value = value.decode()
    if kind == "text":
        assert change.format is not None
        return dt.datetime.strptime(str(value).strip(), change.format)
    if kind in ("epoch", "epoch_ms"):
        seconds = float(value) / (1000 if kind == "epoch_ms" else 1)
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if kind == "date":
            return dt.datetime(parsed.year, parsed.month, parsed.day)
        return parsed
    raise TypeError(value)


def since_value(plan: ReadPlan, since: dt.datetime, dialect: str) -> Any:
    """`since` as the change expression compares: a naive UTC timestamp, a date, text in the
    declared format or an epoch number (SQLite keeps timestamps as text: ISO text there)."""
    change = plan.change
    assert change is not None
    utc = since.astimezone(dt.UTC)
    naive = utc.replace(tzinfo=None)
    if change.type == "text":
        assert change.format is not None
        return naive.strftime(change.format)
    if change.type == "epoch":
        return utc.timestamp()
    if change.type == "epoch_ms":
        return utc.timestamp() * 1000
    if change.type == "date":
        return naive.date().isoformat() if dialect == "sqlite" else naive.date()
    if dialect == "sqlite":
        return naive.isoformat(sep=" ")
    return utc if plan.aware_stamp else naive


def _first_line(error: sa.exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig else str(error)
