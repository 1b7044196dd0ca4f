"""What a database error means for a sync run: the SQL mode's error → action table.

The decision is made on the SQLSTATE when the driver reports one (ISO/IEC 9075 classes; the
PostgreSQL manual's appendix "PostgreSQL Error Codes" lists them), on SQLite's result code for
pysqlite, else on the PEP 249 exception class, which every DB-API driver raises:

* `record` — this row is refused (constraint, bad value): it fails alone, the batch goes on;
* `transient` — the connection or the server had a problem (lost connection, deadlock,
  serialization failure, shutdown): roll the batch back and retry it;
* `configuration` — retrying cannot help (no such table, permission denied, read-only
  transaction, bad credentials): stop and tell a person.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa

from connector.errors import ConfigurationError, RecordError, TransientError

Action = Literal["record", "transient", "configuration"]

#: SQLSTATE (full code first, then its two-character class) → action.
SQLSTATE_ACTIONS: dict[str, Action] = {
    "22": "record",  # data exception: value out of range, invalid datetime, too long
    "23": "record",  # integrity constraint violation: NOT NULL, FK, UNIQUE, CHECK
    "08": "transient",  # connection exception
    "40": "transient",  # transaction rollback: serialization failure, deadlock
    "53": "transient",  # insufficient resources: disk full, too many connections
    "57": "transient",  # operator intervention: admin shutdown, query canceled
    "58": "transient",  # system error: I/O error
    "25006": "configuration",  # read-only SQL transaction: the role may not write
    "28": "configuration",  # invalid authorization specification
    "3D": "configuration",  # invalid catalog (database) name
    "3F": "configuration",  # invalid schema name
    "42": "configuration",  # syntax error or access rule violation: privilege, missing table
}

#: SQLite primary result code (https://sqlite.org/rescode.html) → action; pysqlite reports it
#: as `sqlite_errorcode` (Python ≥ 3.11) instead of a SQLSTATE.
SQLITE_ACTIONS: dict[int, Action] = {
    1: "configuration",  # SQLITE_ERROR: SQL logic error (no such table, a view written to)
    3: "configuration",  # SQLITE_PERM: access permission denied
    5: "transient",  # SQLITE_BUSY: another connection holds the lock
    6: "transient",  # SQLITE_LOCKED: a conflict within this connection's database
    8: "configuration",  # SQLITE_READONLY: the file or connection is read-only
    10: "transient",  # SQLITE_IOERR
    13: "transient",  # SQLITE_FULL: disk full
    14: "transient",  # SQLITE_CANTOPEN
    18: "record",  # SQLITE_TOOBIG: a value too large
    19: "record",  # SQLITE_CONSTRAINT: NOT NULL, UNIQUE, FOREIGN KEY, CHECK
    20: "record",  # SQLITE_MISMATCH: datatype mismatch
    23: "configuration",  # SQLITE_AUTH: authorizer denied
}

#: PEP 249 exception class → action, for drivers that report neither code.
_CLASS_ACTIONS: tuple[tuple[type[sa.exc.DBAPIError], Action], ...] = (
    (sa.exc.IntegrityError, "record"),
    (sa.exc.DataError, "record"),
    (sa.exc.ProgrammingError, "configuration"),
    (sa.exc.NotSupportedError, "configuration"),
)


def sqlstate(error: sa.exc.DBAPIError) -> str | None:
    """The SQLSTATE the driver reported (psycopg `sqlstate`, psycopg2 `pgcode`), if any."""
    for attribute in ("sqlstate", "pgcode"):
        code = getattr(error.orig, attribute, None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def classify(error: sa.exc.DBAPIError) -> Action:
    """The action for a database error (pure: looks only at the error)."""
    if error.connection_invalidated:
        return "transient"
    code = sqlstate(error)
    if code is not None:
        action = SQLSTATE_ACTIONS.get(code) or SQLSTATE_ACTIONS.get(code[:2])
        if action is not None:
            return action
    sqlite_code = getattr(error.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        # Extended codes carry the primary code in their low byte.
        sqlite_action = SQLITE_ACTIONS.get(sqlite_code & 0xFF)
        if sqlite_action is not None:
            return sqlite_action
    for kind, kind_action in _CLASS_ACTIONS:
        if isinstance(error, kind):
            return kind_action
    return "transient"


def driver_message(error: sa.exc.DBAPIError) -> str:
    """The driver's first line only: SQLAlchemy's own text carries the SQL and its parameters,
    and PostgreSQL's DETAIL line repeats the row's values."""
    lines = str(error.orig).strip().splitlines()
    return lines[0] if lines else type(error.orig).__name__


def database_failure(error: sa.exc.DBAPIError, doing: str) -> TransientError | ConfigurationError:
    """The run-level error for a database error that is not about one row."""
    if classify(error) == "configuration":
        return ConfigurationError(f"the ERP database refused {doing}: {driver_message(error)}")
    return TransientError(f"ERP database unavailable while {doing}: {driver_message(error)}")


def record_error(error: sa.exc.DBAPIError) -> RecordError:
    """The record-level error for a row the database refused."""
    code = "CONSTRAINT_VIOLATION" if isinstance(error, sa.exc.IntegrityError) else "INVALID_VALUE"
    state = sqlstate(error)
    if state is not None:
        code = "CONSTRAINT_VIOLATION" if state.startswith("23") else "INVALID_VALUE"
    return RecordError(f"the ERP database refused the row: {driver_message(error)}", code=code)
