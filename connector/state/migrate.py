"""Alembic, driven from code: the store migrates itself on first use and on `db upgrade`.

Whether the store is current is decided without importing Alembic (a tenth of a second of every
command's start-up, bench/cli_startup.py): the head is read from the migration files'
`revision` / `down_revision` lines and compared with the `alembic_version` table. Alembic is
loaded only when there is something to apply, and SQLAlchemy only to read a store (status on
SQLite reads the heads without it: `connector.cli.storepeek`).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

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


def upgrade(connection: Connection) -> None:
    """Apply every migration not yet applied, on this connection's transaction."""
    if is_current(connection):
        return
    from alembic import command

    command.upgrade(_config(connection), "head")
