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
