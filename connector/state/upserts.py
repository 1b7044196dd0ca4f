"""INSERT, or UPDATE of the row in the way, on every database the store runs on.

SQLite and PostgreSQL name the unique key whose conflict turns the INSERT into an UPDATE
(`ON CONFLICT (columns) DO UPDATE`); a conflict on any other unique key is still an error.
MariaDB's `ON DUPLICATE KEY UPDATE` names no key: a conflict on *any* unique key updates the
row it ran into. For a table with one unique key that is the same thing. `bindings` has two,
(entity, key, system) and (entity, system, external id), and there it is not: binding key k2 to
an external id that k1 is bound to would update k1's row in place — k1 silently takes k2's
snapshot — where PostgreSQL refuses with a unique violation and the store raises
`StoreConflict`.

So on MariaDB, the UPDATE of a table with other unique keys is guarded: its first NOT NULL
column is set to NULL unless the row it ran into has the proposed row's values in every column
of the intended key. The store's sessions are strict (`connector.state.connect`), where that is
error 1048, which PyMySQL raises as an `IntegrityError` — as PostgreSQL's unique violation is —
and InnoDB rolls the whole statement back (every row of an executemany). A row found through
the intended key passes the guard; if its new values then collide with a third row's other
key, that is error 1062, a duplicate entry naming the other key, as on PostgreSQL.
`conflict_detail` words the guard's 1048 as the conflict it stands for.

MariaDB: mariadb.com/kb/en/insert-on-duplicate-key-update ("if more than one unique index is
matched, only the first is updated"); strict mode: mariadb.com/kb/en/sql-mode.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, PrimaryKeyConstraint, Table, UniqueConstraint, and_, case, null
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Insert

from connector.state.base import MYSQL_FAMILY, dialect_of

#: What a conflict updates: the proposed row's columns (`excluded` on PostgreSQL and SQLite,
#: `inserted` on MariaDB) in, the SET clause out.
Changes = Callable[[Any], Mapping[str, Any]]

#: MariaDB's error for a NULL in a NOT NULL column (ER_BAD_NULL_ERROR).
_BAD_NULL = 1048
_NULL_COLUMN = re.compile(r"Column '([^']+)' cannot be null")
_INSERT_INTO = re.compile(r"\s*INSERT\s+INTO\s+`?(\w+)`?", re.IGNORECASE)

#: (table, guarded column) → the names of the unique keys the guard stands in for.
_GUARDS: dict[tuple[str, str], tuple[str, ...]] = {}


def upsert_statement(
    dialect_name: str,
    table: Table,
    conflict: Sequence[str],
    changes: Changes,
    values: Mapping[str, Any] | None = None,
    *,
    same: Sequence[str] = (),
    rows: tuple[Sequence[str], Select[Any]] | None = None,
) -> Insert:
    """INSERT `values` (or the executemany rows) into `table`; on a conflict on the unique key
    `conflict`, UPDATE that row with `changes(proposed)`; a conflict on any other key fails.

    With `same`, the row in the way is updated only where it already holds the proposed values
    in those columns (`DO UPDATE … WHERE`; a row left alone counts 0). MariaDB has no such
    clause (`conditional_upserts`), so it is refused there. With `rows` (columns, a SELECT),
    the rows proposed are the SELECT's (`INSERT … SELECT`), in place of `values`.
    """
    # The dialects' own `insert` (typed Any: the module is imported by name).
    insert: Any = dialect_of(dialect_name).insert(table)
    if values is not None:
        insert = insert.values(dict(values))
    if rows is not None:
        insert = insert.from_select(list(rows[0]), rows[1])
    statement: Insert
    if dialect_name in MYSQL_FAMILY:
        if same:
            raise ValueError("ON DUPLICATE KEY UPDATE takes no condition (`same`)")
        update = _guarded(table, conflict, insert.inserted, changes(insert.inserted))
        statement = insert.on_duplicate_key_update(update)
    else:
        changed = dict(changes(insert.excluded))
        where = and_(*(table.c[name] == insert.excluded[name] for name in same)) if same else None
        statement = insert.on_conflict_do_update(
            index_elements=list(conflict), set_=changed, where=where
        )
    return statement


def conditional_upserts(dialect_name: str) -> bool:
    """Whether `upsert_statement` takes `same` on this database."""
    return dialect_name not in MYSQL_FAMILY


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    update_columns: Sequence[str],
) -> None:
    """Many rows of the same columns, each inserted or updated on `conflict`, in one executemany.

    The statement is built once per call: SQLAlchemy cannot cache the dialects' upserting
    constructs, so compiling one per row cost milliseconds per record.
    """
    if not rows:
        return
    statement = upsert_statement(
        conn.dialect.name,
        table,
        conflict,
        lambda proposed: {column: proposed[column] for column in update_columns},
    )
    conn.execute(statement, list(rows))


def _guarded(
    table: Table, conflict: Sequence[str], proposed: Any, update: Mapping[str, Any]
) -> list[tuple[str, Any]]:
    """MariaDB's SET clause: `update`, guarded as the module says when the table needs it."""
    others = _other_unique_keys(table, conflict)
    if not others:
        return list(update.items())
    column = next((name for name in update if not table.c[name].nullable), None)
    if column is None:
        raise AssertionError(f"{table.name}: an upsert needs a NOT NULL column to guard")
    _GUARDS[table.name, column] = others
    same_row = and_(*(table.c[name] == proposed[name] for name in conflict))
    guard = case((same_row, update[column]), else_=null())
    # The guard comes first; it reads only the key's columns, which the update never sets.
    return [(column, guard), *((name, value) for name, value in update.items() if name != column)]


def _other_unique_keys(table: Table, conflict: Sequence[str]) -> tuple[str, ...]:
    """The unique keys of `table` other than `conflict` an INSERT can collide with (an
    auto-increment primary key the statement leaves to the database cannot)."""
    names = []
    for constraint in table.constraints:
        if not isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint):
            continue
        columns = [column.name for column in constraint.columns]
        if set(columns) == set(conflict):
            continue
        generated = table.autoincrement_column
        if generated is not None and columns == [generated.name]:
            continue  # the database picks a new one
        names.append(str(constraint.name or "PRIMARY"))
    return tuple(names)


def conflict_detail(error: IntegrityError) -> str:
    """The first line of the database's refusal; a MariaDB guard's NULL as the conflict it is."""
    original = error.orig
    detail = str(original).strip().splitlines()[0] if original is not None else "conflict"
    args = getattr(original, "args", ())
    if not args or args[0] != _BAD_NULL:
        return detail
    column = _NULL_COLUMN.search(str(args[1]) if len(args) > 1 else "")
    table = _INSERT_INTO.match(error.statement or "")
    keys = column and table and _GUARDS.get((table.group(1), column.group(1)))
    if not keys:
        return detail
    named = " or ".join(f"'{key}'" for key in keys)
    return f"duplicate entry for key {named}: another row holds these values"
