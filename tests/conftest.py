"""Fixtures shared by every test folder: state stores on SQLite, PostgreSQL and MariaDB, and
empty PostgreSQL schemas and MariaDB databases (for stores and the ERP adapter's SQL mode)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError, OperationalError

from connector.state.store import StateStore, open_store

PG_URL = os.environ.get(
    "CONNECTOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("CONNECTOR_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")

# No property test has a deadline: hypothesis's default (200 ms an example) times the machine,
# and on a shared 2-core one a test failed it under load with nothing wrong in the code. Speed
# is measured in bench/, never in tests. (Several modules already said `deadline=None` each.)
settings.register_profile("connector", deadline=None)
settings.load_profile("connector")


def unreachable(reason: str, variable: str) -> NoReturn:
    """Under CI (`CI` set) a database a test needs must be there: the test fails. On a
    developer's machine without it the test is skipped, saying why and how to point at one."""
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI needs it")
    pytest.skip(f"{reason}; set {variable} to run these tests")


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh PostgreSQL schema, dropped afterwards.

    Under CI (`CI` set) PostgreSQL must be reachable and a test that needs it fails when it is
    not; on a developer's machine without PostgreSQL those tests are skipped, saying why.
    """
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as error:
        admin.dispose()
        reason = f"PostgreSQL is not reachable at {PG_URL} ({type(error.orig).__name__})"
        unreachable(reason, "CONNECTOR_TEST_PG_URL")
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def mysql_database_url() -> Iterator[str]:
    """The URL of a fresh MariaDB (or MySQL) database, dropped afterwards.

    `CONNECTOR_TEST_MYSQL_URL` names the server and an account that may create databases; each
    test gets its own database on it, so tests never see each other's tables. Reachability is
    handled as for PostgreSQL: a failure under CI, a skip with the reason elsewhere.
    """
    base = make_url(MYSQL_URL)
    database = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
    except ImportError as error:
        unreachable(
            f"no MySQL driver for {base.drivername} ({error.name})", "CONNECTOR_TEST_MYSQL_URL"
        )
    try:
        with admin.connect() as conn:
            # A test that leaves a transaction open must not make the DROP below hang.
            conn.execute(text("SET SESSION lock_wait_timeout = 10"))
            conn.execute(text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    except DBAPIError as error:
        admin.dispose()
        shown = base.render_as_string(hide_password=True)
        reason = f"MariaDB is not reachable at {shown} ({type(error.orig).__name__}: {error.orig})"
        unreachable(reason, "CONNECTOR_TEST_MYSQL_URL")
    try:
        yield base.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text("SET SESSION lock_wait_timeout = 10"))
            conn.execute(text(f"DROP DATABASE `{database}`"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on the three databases the product supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_schema_url")
        return url
    # As the documentation spells a MariaDB store (tests/state/test_mariadb_schema.py also
    # opens one as mysql://, which SQLAlchemy handles as another dialect).
    server = make_url(request.getfixturevalue("mysql_database_url"))
    return server.set(drivername="mariadb+pymysql").render_as_string(hide_password=False)


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[StateStore]:
    opened = open_store(store_url, tmp_path)
    yield opened
    opened.close()
