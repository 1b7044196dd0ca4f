"""What the store's concept modules share: the clock, the mixin bases and two SQL helpers.

`StateStore` and `StoreTx` (in `store.py`) are composed of one mixin per concept — bindings,
cursors, runs, failures, the webhook inbox, leases. The mixins read the engine, clock, connection
and transaction time declared on the bases here; the classes in `store.py` set them.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table

from connector.batching import chunked
from connector.timestamps import WallClock, utc_now

if TYPE_CHECKING:
    from connector.state.hotpath import HotPath

#: The store's clock tells wall-clock time (kept under its old names for the store's modules).
Clock = WallClock
utcnow = utc_now


class StoreBase:
    """What a `StateStore` mixin may use: the engine and the clock."""

    engine: Engine
    clock: Clock


class TxBase:
    """What a `StoreTx` mixin may use: the transaction's connection, its time, its dialect's
    hot-path statements, and `flush`."""

    _conn: Connection
    _hot: HotPath
    now: dt.datetime

    def flush(self) -> None:
        raise NotImplementedError


def dialect_of(name: str) -> ModuleType:
    """The SQLAlchemy dialect package (its ON CONFLICT `insert`) for a store on database `name`.

    Imported on first use: a store on SQLite never loads the PostgreSQL dialect (and its
    asyncpg module), which was a tenth of `connector status`'s start-up (bench/cli_startup.py).
    """
    package = "postgresql" if name == "postgresql" else "sqlite"
    return importlib.import_module(f"sqlalchemy.dialects.{package}")


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    update_columns: Iterable[str],
) -> None:
    """INSERT … ON CONFLICT DO UPDATE for many rows of the same columns, in one executemany.

    The statement is built once per call: SQLAlchemy cannot cache the dialects' ON CONFLICT
    constructs, so compiling one per row cost milliseconds per record.
    """
    if not rows:
        return
    statement = dialect_of(conn.dialect.name).insert(table)
    changes = {column: statement.excluded[column] for column in update_columns}
    conn.execute(
        statement.on_conflict_do_update(index_elements=list(conflict), set_=changes),
        list(rows),
    )


def chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """Id lists cut to a size every database takes in one `IN (...)`."""
    return chunked(items, size)
