"""The store's tables on MariaDB, as the migrations create them, under both URL spellings.

SQLAlchemy handles `mariadb://` and `mysql://` URLs as two dialects, each reading its own
prefix of table options; a table created without them takes the server's defaults: a
collation that ignores case and pads with spaces, and DATETIME in whole seconds. Anything
else than the store opening on a MariaDB server 10.6 or later is refused, saying why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from connector.errors import ConfigurationError
from connector.state.connect import StoreTimeouts, check_server, create_store_engine
from connector.state.store import database_url, open_store


@pytest.mark.parametrize("driver", ["mariadb+pymysql", "mysql+pymysql", "mariadb", "mysql"])
def test_every_table_is_innodb_utf8mb4_binary_with_microseconds(
    mysql_database_url: str, tmp_path: Path, driver: str
) -> None:
    url = make_url(mysql_database_url).set(drivername=driver)
    store = open_store(url.render_as_string(hide_password=False), tmp_path)
    try:
        with store.engine.connect() as conn:
            tables = conn.exec_driver_sql(
                "SELECT table_name, engine, table_collation, row_format "
                "FROM information_schema.tables WHERE table_schema = DATABASE() "
                "AND table_name <> 'alembic_version'"
            ).all()
            columns = conn.exec_driver_sql(
                "SELECT table_name, column_name, data_type, collation_name, datetime_precision "
                "FROM information_schema.columns WHERE table_schema = DATABASE() "
                "AND table_name <> 'alembic_version'"
            ).all()
    finally:
        store.close()
    assert len(tables) == 7
    assert {(engine, collation, form) for _, engine, collation, form in tables} == {
        ("InnoDB", "utf8mb4_nopad_bin", "Dynamic")
    }
    text = {(t, c): collation for t, c, kind, collation, _ in columns if kind == "varchar"}
    assert text and set(text.values()) == {"utf8mb4_nopad_bin"}, text
    times = {(t, c): precision for t, c, kind, _, precision in columns if kind == "datetime"}
    assert len(times) == 16 and set(times.values()) == {6}, times


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("mysql+mysqldb://root@localhost/db", "through PyMySQL"),
        ("mariadb+mariadbconnector://root@localhost/db", "through PyMySQL"),
        ("oracle://scott@localhost/db", "SQLite, PostgreSQL or MariaDB"),
    ],
)
def test_a_store_url_the_store_cannot_use_is_refused(url: str, refusal: str) -> None:
    with pytest.raises(ConfigurationError, match=refusal):
        database_url(url, Path("."))


@pytest.mark.parametrize("url", ["mariadb://u@h/db", "mysql://u@h/db"])
def test_a_bare_mariadb_url_means_pymysql(url: str) -> None:
    assert "+pymysql://" in database_url(url, Path("."))


@pytest.mark.parametrize(
    ("mariadb", "version", "refusal"),
    [
        (False, (8, 0, 36), "not MySQL 8.0.36"),
        (True, (10, 5, 27), "needs MariaDB 10.6 or later"),
    ],
)
def test_a_server_the_store_does_not_run_on_is_refused_at_open(
    mysql_database_url: str,
    mariadb: bool,
    version: tuple[int, ...],
    refusal: str,
) -> None:
    """Only a MariaDB server can be had here: it is made to say it is another one (the
    dialect reads both once, on its first connection)."""
    engine = create_store_engine(mysql_database_url, StoreTimeouts())
    try:
        check_server(engine)  # the real server passes
        dialect: Any = engine.dialect
        dialect.is_mariadb, dialect.server_version_info = mariadb, version
        with pytest.raises(ConfigurationError, match=refusal):
            check_server(engine)
    finally:
        engine.dispose()
