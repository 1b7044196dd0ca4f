"""Alembic, driven from code: the store migrates itself on first use and on `db upgrade`.

Whether the store is current is decided without importing Alembic (a tenth of a second of every
command's start-up, bench/cli_startup.py): the head is read from the migration files'
`revision` / `down_revision` lines and compared with the `alembic_version` table. Alembic is
loaded only when there is something to apply, and SQLAlchemy only to read a store (status on
SQLite reads the heads without it: `connector.cli.storepeek`).

Several processes may open a new or outdated store at once (two daemons started together, a
daemon and a CLI command), so applying migrations is serialised by a lock the database itself
holds (`migration_lock`), and whoever gets it second finds the store current and applies nothing.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from connector.errors import StoreUnavailableError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection

MIGRATIONS = Path(__file__).with_name("migrations")
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revisions() -> frozenset[str]:
    """Revisions no other migration builds on: what a current store is at."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_ASSIGNMENT.findall(script.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        revisions.update(_QUOTED.findall(found["revision"]))
        parents.update(_QUOTED.findall(found.get("down_revision", "")))
    return frozenset(revisions - parents)


def head_revision() -> str | None:
    heads = sorted(head_revisions())
    return heads[0] if len(heads) == 1 else ",".join(heads) or None


def current_revisions(connection: Connection) -> frozenset[str]:
    from sqlalchemy import inspect, text

    if not inspect(connection).has_table("alembic_version"):
        return frozenset()
    rows = connection.execute(text("SELECT version_num FROM alembic_version"))
    return frozenset(str(row[0]) for row in rows)


def is_current(connection: Connection) -> bool:
    return current_revisions(connection) == head_revisions()


def upgrade(connection: Connection, wait_seconds: float) -> None:
    """Apply every migration not yet applied, on this connection's transaction, which must
    not have run anything yet: the migration lock is its first statement. Another process's
    migration is waited for up to `wait_seconds`."""
    with migration_lock(connection, wait_seconds):
        if is_current(connection):  # another process migrated while this one waited
            return
        from alembic import command

        command.upgrade(_config(connection), "head")


#: PostgreSQL's advisory lock for migrations: this number ("conn") and the store's schema.
_POSTGRES_LOCK_KEY = 0x636F6E6E
# A store on PostgreSQL is a schema (its URL's search_path): stores in other schemas of the same
# database have tables of their own and must not wait for each other's migrations. Advisory
# locks are per database, so the schema's hash is the lock's second key.
_POSTGRES_LOCK = (
    f"SELECT pg_advisory_xact_lock({_POSTGRES_LOCK_KEY:d}, "
    "hashtext(coalesce(current_schema(), '')))"
)


@contextmanager
def migration_lock(connection: Connection, wait_seconds: float) -> Iterator[None]:
    """Hold the store's migration lock, waiting up to `wait_seconds` for another holder.

    Each database's own way, so that a process that dies holding it frees it:
    * SQLite — `BEGIN IMMEDIATE`: the database's write lock, held to the end of the
      transaction; the connection's busy timeout bounds the wait
      (sqlite.org/lang_transaction.html).
    * PostgreSQL — `pg_advisory_xact_lock`, one per schema (a store), released when the
      transaction ends; the session's `statement_timeout` bounds the wait
      (postgresql.org/docs/current/explicit-locking.html, "Advisory Locks").
    * MariaDB — `GET_LOCK`, a named lock of the session: DDL there commits as it goes, so no
      transaction could hold it. Named per database (the names are server-wide), released
      explicitly, and by the server when the session ends (mariadb.com/kb/en/get_lock).
    """
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    seconds = math.ceil(wait_seconds)
    still_held = StoreUnavailableError(
        f"another process has been migrating the state store for more than {seconds} s; "
        f"the next start tries again"
    )
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        try:
            if dialect == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.execute(text(_POSTGRES_LOCK))
        except OperationalError as error:
            if _waited_too_long(error.orig):
                raise still_held from None
            raise
        yield
        return
    # SHA1's 40 hex digits keep the name within MariaDB's 64 characters for any database name.
    name = "CONCAT('connector-migrate:', SHA1(DATABASE()))"
    granted = connection.execute(
        text(f"SELECT GET_LOCK({name}, :seconds)"), {"seconds": seconds}
    ).scalar()
    # 0: still held by another session after the wait; NULL: the wait was cut short, which
    # the session's `max_statement_time` (the same number of seconds) may do first.
    if granted != 1:
        raise still_held
    try:
        yield
    finally:
        connection.execute(text(f"SELECT RELEASE_LOCK({name})"))


_SQLITE_BUSY = 5
_POSTGRES_QUERY_CANCELED = "57014"  # what `statement_timeout` ends a statement with


def _waited_too_long(error: BaseException | None) -> bool:
    """True when the lock statement gave up waiting (SQLite's busy timeout, PostgreSQL's
    statement timeout), as against the database not answering at all."""
    return (
        getattr(error, "sqlite_errorcode", None) == _SQLITE_BUSY
        or getattr(error, "sqlstate", None) == _POSTGRES_QUERY_CANCELED
    )
