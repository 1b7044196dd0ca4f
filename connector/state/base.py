"""What the store's concept modules share: the clock, the mixin bases and two SQL helpers.

`StateStore` and `StoreTx` (in `store.py`) are composed of one mixin per concept — bindings,
cursors, runs, failures, the webhook inbox, leases. The mixins read the engine, clock, connection
and transaction time declared on the bases here; the classes in `store.py` set them.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, NestedTransaction

from connector.batching import chunked
from connector.timestamps import WallClock

if TYPE_CHECKING:
    from connector.state.hotpath import HotPath


class StoreBase:
    """What a `StateStore` mixin may use: the engine and the clock."""

    engine: Engine
    clock: WallClock


class TxBase:
    """What a `StoreTx` mixin may use: the transaction's connection, its time, its dialect's
    hot-path statements, and `flush`."""

    _hot: HotPath
    now: dt.datetime

    @property
    def _conn(self) -> Connection:
        """The transaction's connection (begun on first use: `StoreTx`)."""
        raise NotImplementedError

    @property
    def began(self) -> bool:
        """Whether the transaction has begun (its first write made)."""
        raise NotImplementedError

    def _reading(self) -> AbstractContextManager[Connection]:
        """A connection to read on before the transaction has begun (`StoreTx`)."""
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError


#: The database names SQLAlchemy gives MariaDB (and MySQL): `mariadb://` URLs are "mariadb",
#: `mysql://` ones "mysql" even when the server is MariaDB.
MYSQL_FAMILY = frozenset({"mysql", "mariadb"})


def dialect_of(name: str) -> ModuleType:
    """The SQLAlchemy dialect package (its upserting `insert`) for a store on database `name`.

    Imported on first use: a store on SQLite never loads the PostgreSQL dialect (and its
    asyncpg module), which was a tenth of `connector status`'s start-up (bench/cli_startup.py).
    """
    package = "mysql" if name in MYSQL_FAMILY else name
    if package not in ("postgresql", "sqlite", "mysql"):
        raise ValueError(f"the state store does not run on {name!r}")
    return importlib.import_module(f"sqlalchemy.dialects.{package}")


def savepoint(conn: Connection) -> NestedTransaction:
    """A SAVEPOINT in `conn`'s transaction, to roll a statement back without the transaction.

    On SQLite the transaction is begun first if it has not been: Python's sqlite3 begins one
    only before an INSERT, UPDATE or DELETE, and a SAVEPOINT outside a transaction starts one
    of its own that its RELEASE commits, outside the store's transaction ("Incorrect behavior
    for SAVEPOINT": docs.sqlalchemy.org/en/20/dialects/sqlite.html#sqlite-transactions).
    """
    if conn.dialect.name == "sqlite":
        dbapi: Any = conn.connection.dbapi_connection
        if not dbapi.in_transaction:
            conn.exec_driver_sql("BEGIN")
    return conn.begin_nested()


def chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """Id lists cut to a size every database takes in one `IN (...)`."""
    return chunked(items, size)
