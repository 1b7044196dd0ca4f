"""What a database error means for a sync run: the SQL mode's error → action table.

The decision is made on the SQLSTATE when the driver reports one (ISO/IEC 9075 classes; the
PostgreSQL manual's appendix "PostgreSQL Error Codes" lists them), then on MySQL/MariaDB's own
error number (the server files many errors under the catch-all SQLSTATE `HY000`), on SQLite's
result code for pysqlite, else on the PEP 249 exception class, which every DB-API driver raises:

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

#: MySQL/MariaDB error number → action, for what the SQLSTATE leaves open: the server reports
#: many errors as `HY000` (a NOT NULL column left out, a lock wait timeout, a read-only server),
#: and older drivers (PyMySQL < 1.2, mysqlclient) give no SQLSTATE at all. Numbers from the
#: MySQL server and client error references; 19xx and 4xxx are MariaDB's own, 3xxx MySQL 8's.
MYSQL_ACTIONS: dict[int, Action] = {
    1048: "record",  # ER_BAD_NULL_ERROR: NULL written to a NOT NULL column
    1062: "record",  # ER_DUP_ENTRY: a UNIQUE or primary key taken
    1264: "record",  # ER_WARN_DATA_OUT_OF_RANGE
    1292: "record",  # ER_TRUNCATED_WRONG_VALUE: an impossible date or time
    1364: "record",  # ER_NO_DEFAULT_FOR_FIELD: a NOT NULL column without default left out
    1366: "record",  # ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: text where a number belongs
    1406: "record",  # ER_DATA_TOO_LONG
    1451: "record",  # ER_ROW_IS_REFERENCED_2: a foreign key still points at the row
    1452: "record",  # ER_NO_REFERENCED_ROW_2: a foreign key points nowhere
    1644: "record",  # ER_SIGNAL_EXCEPTION: an ERP trigger refused the row (SIGNAL)
    3819: "record",  # ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
    4025: "record",  # ER_CONSTRAINT_FAILED: a CHECK constraint (MariaDB)
    1040: "transient",  # ER_CON_COUNT_ERROR: too many connections
    1053: "transient",  # ER_SERVER_SHUTDOWN
    1205: "transient",  # ER_LOCK_WAIT_TIMEOUT
    1213: "transient",  # ER_LOCK_DEADLOCK
    1927: "transient",  # ER_CONNECTION_KILLED (MariaDB)
    1969: "transient",  # ER_STATEMENT_TIMEOUT: max_statement_time (MariaDB)
    3024: "transient",  # ER_QUERY_TIMEOUT: max_execution_time (MySQL)
    3572: "transient",  # ER_LOCK_NOWAIT (MySQL)
    2002: "transient",  # CR_CONNECTION_ERROR: cannot connect through the socket
    2003: "transient",  # CR_CONN_HOST_ERROR: cannot connect to the host
    2006: "transient",  # CR_SERVER_GONE_ERROR: MySQL server has gone away
    2013: "transient",  # CR_SERVER_LOST: lost connection during a query
    2055: "transient",  # CR_SERVER_LOST_EXTENDED
    1044: "configuration",  # ER_DBACCESS_DENIED_ERROR
    1045: "configuration",  # ER_ACCESS_DENIED_ERROR: bad user or password
    1049: "configuration",  # ER_BAD_DB_ERROR: unknown database
    1054: "configuration",  # ER_BAD_FIELD_ERROR: unknown column
    1142: "configuration",  # ER_TABLEACCESS_DENIED_ERROR: e.g. INSERT denied to a reader
    1143: "configuration",  # ER_COLUMNACCESS_DENIED_ERROR
    1146: "configuration",  # ER_NO_SUCH_TABLE
    1288: "configuration",  # ER_NON_UPDATABLE_TABLE: a view that cannot be written
    1290: "configuration",  # ER_OPTION_PREVENTS_STATEMENT: a --read-only server
    1471: "configuration",  # ER_NON_INSERTABLE_TABLE
    1792: "configuration",  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
}

#: The MySQL/MariaDB record-level errors that are a constraint, not a bad value.
MYSQL_CONSTRAINT_ERRORS = frozenset({1048, 1062, 1364, 1451, 1452, 1644, 3819, 4025})

#: Top-level modules of the MySQL/MariaDB DB-API drivers, whose errors carry the server's error
#: number (as `errno`, or first in `args`); other drivers' `args[0]` means something else.
_MYSQL_DRIVERS = frozenset({"pymysql", "MySQLdb", "mysql", "mariadb", "asyncmy", "aiomysql"})

#: PEP 249 exception class → action, for drivers that report neither code.
_CLASS_ACTIONS: tuple[tuple[type[sa.exc.DBAPIError], Action], ...] = (
    (sa.exc.IntegrityError, "record"),
    (sa.exc.DataError, "record"),
    (sa.exc.ProgrammingError, "configuration"),
    (sa.exc.NotSupportedError, "configuration"),
)


def sqlstate(error: sa.exc.DBAPIError) -> str | None:
    """The SQLSTATE the driver reported (psycopg and PyMySQL ≥ 1.2 `sqlstate`, psycopg2
    `pgcode`), if any."""
    for attribute in ("sqlstate", "pgcode"):
        code = getattr(error.orig, attribute, None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def mysql_errno(error: sa.exc.DBAPIError) -> int | None:
    """The MySQL/MariaDB error number, when a MySQL-family driver raised the error."""
    orig = error.orig
    if orig is None or type(orig).__module__.partition(".")[0] not in _MYSQL_DRIVERS:
        return None
    code = getattr(orig, "errno", None)
    if code is None and orig.args:
        code = orig.args[0]
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def classify(error: sa.exc.DBAPIError) -> Action:
    """The action for a database error (pure: looks only at the error)."""
    if error.connection_invalidated:
        return "transient"
    code = sqlstate(error)
    if code is not None:
        action = SQLSTATE_ACTIONS.get(code) or SQLSTATE_ACTIONS.get(code[:2])
        if action is not None:
            return action
    mysql_action = MYSQL_ACTIONS.get(mysql_errno(error) or 0)
    if mysql_action is not None:
        return mysql_action
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
    text = str(error.orig)
    errno = mysql_errno(error)
    args = error.orig.args if error.orig is not None else ()
    if errno is not None and len(args) > 1 and isinstance(args[1], str):
        # PyMySQL and mysqlclient print their (number, message) args as a tuple.
        text = f"{args[1]} (error {errno})"
    lines = text.strip().splitlines()
    return lines[0] if lines else type(error.orig).__name__


def database_failure(error: sa.exc.DBAPIError, doing: str) -> TransientError | ConfigurationError:
    """The run-level error for a database error that is not about one row."""
    if classify(error) == "configuration":
        return ConfigurationError(f"the ERP database refused {doing}: {driver_message(error)}")
    return TransientError(f"ERP database unavailable while {doing}: {driver_message(error)}")


def record_error(error: sa.exc.DBAPIError) -> RecordError:
    """The record-level error for a row the database refused."""
    constraint = isinstance(error, sa.exc.IntegrityError)
    state, errno = sqlstate(error), mysql_errno(error)
    if state is not None and state[:2] in ("22", "23"):
        constraint = state.startswith("23")
    elif errno is not None and errno in MYSQL_ACTIONS:
        constraint = errno in MYSQL_CONSTRAINT_ERRORS
    elif state is not None:
        constraint = False
    code = "CONSTRAINT_VIOLATION" if constraint else "INVALID_VALUE"
    return RecordError(f"the ERP database refused the row: {driver_message(error)}", code=code)
