"""The SQL mode's error → action table."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from adapters.erp_generic.dberrors import classify, database_failure, record_error
from connector.errors import ConfigurationError, TransientError


class DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def wrapped(kind: type[sa.exc.DBAPIError], message: str, state: str | None = None):
    return kind("INSERT …", {"secret": "row data"}, DriverError(message, state))


@pytest.mark.parametrize(
    ("kind", "state", "action"),
    [
        (sa.exc.IntegrityError, "23502", "record"),
        (sa.exc.DataError, "22007", "record"),
        (sa.exc.OperationalError, "08006", "transient"),
        (sa.exc.OperationalError, "40P01", "transient"),  # deadlock
        (sa.exc.OperationalError, "57P01", "transient"),  # admin shutdown
        (sa.exc.InternalError, "25006", "configuration"),  # read-only transaction
        (sa.exc.ProgrammingError, "42501", "configuration"),  # insufficient privilege
        (sa.exc.OperationalError, "28P01", "configuration"),  # bad password
        # No SQLSTATE (pysqlite): the PEP 249 class decides.
        (sa.exc.IntegrityError, None, "record"),
        (sa.exc.ProgrammingError, None, "configuration"),
        (sa.exc.OperationalError, None, "transient"),
        (sa.exc.InterfaceError, None, "transient"),
    ],
)
def test_classify(kind: type[sa.exc.DBAPIError], state: str | None, action: str) -> None:
    assert classify(wrapped(kind, "boom", state)) == action


def test_messages_carry_the_first_driver_line_only() -> None:
    error = wrapped(
        sa.exc.IntegrityError,
        'null value in column "name" violates not-null constraint\nDETAIL: Failing row (1, x)',
        "23502",
    )
    refused = record_error(error)
    assert refused.code == "CONSTRAINT_VIOLATION"
    assert "DETAIL" not in str(refused) and "row data" not in str(refused)
    assert "not-null" in str(refused)
    failure = database_failure(wrapped(sa.exc.OperationalError, "gone", "08006"), "writing")
    assert isinstance(failure, TransientError) and "INSERT" not in str(failure)
    stop = database_failure(wrapped(sa.exc.ProgrammingError, "denied", "42501"), "writing")
    assert isinstance(stop, ConfigurationError)


def sqlite_error(kind: type[sa.exc.DBAPIError], statement: str) -> sa.exc.DBAPIError:
    import sqlite3

    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (a NOT NULL)")
    connection.execute("CREATE VIEW v AS SELECT 1 AS a")
    try:
        connection.execute(statement)
    except sqlite3.Error as raw:
        return kind(statement, {}, raw)
    raise AssertionError("the statement should fail")


@pytest.mark.parametrize(
    ("statement", "kind", "action"),
    [
        ("INSERT INTO t VALUES (NULL)", sa.exc.IntegrityError, "record"),
        # pysqlite calls these OperationalError; retrying would never help.
        ("INSERT INTO v VALUES (1)", sa.exc.OperationalError, "configuration"),
        ("SELECT * FROM missing", sa.exc.OperationalError, "configuration"),
    ],
)
def test_sqlite_result_codes(statement: str, kind: type[sa.exc.DBAPIError], action: str) -> None:
    assert classify(sqlite_error(kind, statement)) == action


# --- MySQL / MariaDB ---------------------------------------------------------------------------


def pymysql_error(
    kind: type[sa.exc.DBAPIError], errno: int, message: str, state: str | None = None
) -> sa.exc.DBAPIError:
    import pymysql

    raw_kind = getattr(pymysql.err, kind.__name__)
    return kind("INSERT …", {"secret": "row data"}, raw_kind(errno, message, sqlstate=state))


@pytest.mark.parametrize(
    ("kind", "errno", "state", "action"),
    [
        # The server files these under the catch-all SQLSTATE HY000: the number decides.
        (sa.exc.OperationalError, 1364, "HY000", "record"),  # NOT NULL column left out
        (sa.exc.OperationalError, 1205, "HY000", "transient"),  # lock wait timeout
        (sa.exc.OperationalError, 1290, "HY000", "configuration"),  # --read-only server
        # Older drivers report no SQLSTATE, and PyMySQL calls a CHECK failure "operational".
        (sa.exc.OperationalError, 4025, None, "record"),
        (sa.exc.OperationalError, 1213, None, "transient"),  # deadlock
        (sa.exc.OperationalError, 2013, None, "transient"),  # lost connection
        (sa.exc.OperationalError, 2006, None, "transient"),  # server has gone away
        (sa.exc.OperationalError, 1142, None, "configuration"),  # INSERT denied
        (sa.exc.IntegrityError, 1062, None, "record"),  # duplicate key
        # A SQLSTATE the table knows still decides first.
        (sa.exc.OperationalError, 1792, "25006", "configuration"),
    ],
)
def test_classify_mysql_error_numbers(
    kind: type[sa.exc.DBAPIError], errno: int, state: str | None, action: str
) -> None:
    assert classify(pymysql_error(kind, errno, "boom", state)) == action


def test_mysql_record_errors_say_constraint_or_value_and_read_cleanly() -> None:
    missing = record_error(
        pymysql_error(
            sa.exc.OperationalError, 1364, "Field 'customer_no' doesn't have a default value"
        )
    )
    assert missing.code == "CONSTRAINT_VIOLATION"
    assert str(missing).endswith("Field 'customer_no' doesn't have a default value (error 1364)")
    assert "row data" not in str(missing)
    too_long = record_error(
        pymysql_error(sa.exc.DataError, 1406, "Data too long for column 'name' at row 1")
    )
    assert too_long.code == "INVALID_VALUE"
    assert "(1406," not in str(too_long)


def test_other_drivers_numbers_are_not_read_as_mysql_errors() -> None:
    # Another driver's leading integer argument is not a MySQL error number.
    error = sa.exc.OperationalError("SELECT 1", {}, DriverError("1364"))
    error.orig.args = (1364, "whatever")  # type: ignore[union-attr]
    assert classify(error) == "transient"
    assert record_error(error).code == "INVALID_VALUE"


# --- errors a real MariaDB server raises ---------------------------------------------------

MARIADB_SCHEMA = [
    "CREATE TABLE parent (id INT PRIMARY KEY)",
    "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, a VARCHAR(5) NOT NULL UNIQUE, d DATE,"
    " n DECIMAL(4, 2), p INT, FOREIGN KEY (p) REFERENCES parent (id),"
    " CONSTRAINT no_bad CHECK (a <> 'bad'))",
    "CREATE TRIGGER refuse BEFORE INSERT ON t FOR EACH ROW IF NEW.a = 'no' THEN"
    " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'the ERP refuses this row'; END IF",
    "INSERT INTO t (a) VALUES ('taken')",
]


@pytest.fixture
def mariadb(mysql_database_url: str):
    engine = sa.create_engine(mysql_database_url)
    with engine.begin() as connection:
        for statement in MARIADB_SCHEMA:
            connection.exec_driver_sql(statement)
    yield engine
    engine.dispose()


def refused(engine: sa.Engine, *statements: str) -> sa.exc.DBAPIError:
    with pytest.raises(sa.exc.DBAPIError) as raised, engine.connect() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    return raised.value


@pytest.mark.mariadb
@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("INSERT INTO t (a) VALUES ('taken')", "CONSTRAINT_VIOLATION"),  # 1062
        ("INSERT INTO t (d) VALUES ('2030-01-01')", "CONSTRAINT_VIOLATION"),  # 1364
        ("INSERT INTO t (a) VALUES (NULL)", "CONSTRAINT_VIOLATION"),  # 1048
        ("INSERT INTO t (a) VALUES ('bad')", "CONSTRAINT_VIOLATION"),  # 4025, CHECK
        ("INSERT INTO t (a, p) VALUES ('x', 42)", "CONSTRAINT_VIOLATION"),  # 1452, FK
        ("INSERT INTO t (a) VALUES ('no')", "CONSTRAINT_VIOLATION"),  # 1644, trigger
        ("INSERT INTO t (a) VALUES ('toolong')", "INVALID_VALUE"),  # 1406
        ("INSERT INTO t (a, d) VALUES ('x', '31/12/2030')", "INVALID_VALUE"),  # 1292
        ("INSERT INTO t (a, n) VALUES ('x', 1000)", "INVALID_VALUE"),  # 1264
    ],
)
def test_mariadb_refused_rows_are_record_errors(
    mariadb: sa.Engine, statement: str, code: str
) -> None:
    error = refused(mariadb, statement)
    assert classify(error) == "record"
    assert record_error(error).code == code


@pytest.mark.mariadb
@pytest.mark.parametrize(
    "statements",
    [
        ["INSERT INTO missing (a) VALUES (1)"],  # 1146
        ["INSERT INTO t (colour) VALUES ('red')"],  # 1054
        ["START TRANSACTION READ ONLY", "INSERT INTO t (a) VALUES ('x')"],  # 1792
    ],
)
def test_mariadb_errors_no_retry_can_fix_stop_the_run(
    mariadb: sa.Engine, statements: list[str]
) -> None:
    error = refused(mariadb, *statements)
    assert classify(error) == "configuration"
    assert isinstance(database_failure(error, "writing"), ConfigurationError)


@pytest.mark.mariadb
def test_mariadb_lock_conflicts_and_lost_connections_are_retried(mariadb: sa.Engine) -> None:
    with mariadb.connect() as holder:
        holder.exec_driver_sql("SELECT * FROM t WHERE a = 'taken' FOR UPDATE")
        locked = refused(mariadb, "SELECT * FROM t WHERE a = 'taken' FOR UPDATE NOWAIT")
        holder.rollback()
    assert classify(locked) == "transient"  # 1205, SQLSTATE HY000

    with mariadb.connect() as victim, mariadb.connect() as killer:
        thread_id = victim.connection.dbapi_connection.thread_id()  # type: ignore[union-attr]
        killer.exec_driver_sql(f"KILL CONNECTION {int(thread_id)}")
        with pytest.raises(sa.exc.DBAPIError) as raised:
            victim.exec_driver_sql("SELECT 1")
    assert classify(raised.value) == "transient"  # 2013 / 2006
    assert isinstance(database_failure(raised.value, "reading"), TransientError)
