"""The generic SQL ERP's SQLAlchemy engine: the configured URL, and each database's session rules.

MySQL/MariaDB sessions run in UTC and strict mode, SQLite's in SQLAlchemy-owned transactions
with foreign keys enforced; a missing dialect or driver package is a configuration error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from adapters.erp_generic.settings import SqlSettings
from connector.dburl import normalise_url
from connector.errors import ConfigurationError

#: SQLAlchemy's backend names for MySQL and MariaDB (`mysql+pymysql://`, `mariadb+pymysql://`).
MYSQL_BACKENDS = frozenset({"mysql", "mariadb"})

#: The session settings of every MySQL/MariaDB connection; see `_mysql_sessions`.
_MYSQL_SESSION = (
    "SET time_zone = '+00:00', "
    "sql_mode = TRIM(BOTH ',' FROM CONCAT(@@sql_mode, ',STRICT_ALL_TABLES'))"
)


def make_engine(settings: SqlSettings, base_dir: Path) -> Engine:
    """An engine for the configured URL; a relative SQLite path is relative to `base_dir`."""
    url = normalise_url(settings.url.get_secret_value(), "the ERP database url")
    if settings.password is not None:
        url = url.set(password=settings.password.get_secret_value())
    backend = url.get_backend_name()
    if backend in MYSQL_BACKENDS:
        engine = _create_engine(url, pool_pre_ping=True)
        _mysql_sessions(engine)
        return engine
    if backend != "sqlite":
        return _create_engine(url, pool_pre_ping=True)
    memory = url.database in (None, "", ":memory:")
    if not memory and url.database is not None and not Path(url.database).is_absolute():
        url = url.set(database=str(base_dir / url.database))
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        options["poolclass"] = StaticPool
    engine = _create_engine(url, **options)
    _sqlite_transactions(engine)
    return engine


def _create_engine(url: sa.URL, **options: Any) -> Engine:
    """`create_engine`, with a missing dialect or driver package as a configuration error."""
    try:
        return sa.create_engine(url, **options)
    except sa.exc.NoSuchModuleError:
        raise ConfigurationError(
            f"the ERP database url names an unknown database or driver {url.drivername!r}"
        ) from None
    except ImportError as error:
        raise ConfigurationError(
            f"the driver package for {url.drivername!r} URLs is not installed "
            f"(no module {error.name!r}); use a driver the connector ships: postgresql:// "
            "(psycopg 3), mysql:// or mariadb:// (PyMySQL), sqlite:///path"
        ) from None


def _mysql_sessions(engine: Engine) -> None:
    """Run every MySQL/MariaDB session in UTC and in strict mode, whatever the server's defaults.

    `TIMESTAMP` columns are converted to and from the session's time zone, which defaults to
    the server's (often local time); in UTC they read as the UTC wall clock that naive
    timestamps are taken to be. Outside strict mode the server keeps a refused value in a
    mangled form (text cut short, a NOT NULL column left out set to '' or 0, a bad date to
    zeros) with only a warning; in strict mode it refuses the row, which then fails alone as on
    every other database. Only our own sessions change: the ERP's triggers keep the mode they
    were created with.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(_MYSQL_SESSION)
        cursor.close()


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy own BEGIN so SAVEPOINTs work, and enforce foreign keys like the ERP would.

    pysqlite's own implicit transaction handling breaks SAVEPOINT; the SQLAlchemy docs
    ("Serializable isolation / Savepoints / Transactional DDL", pysqlite dialect) give this
    recipe: disable the driver's handling and emit BEGIN from the `begin` event.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")
