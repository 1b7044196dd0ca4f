"""The sync-state store: bindings, cursors, runs, failures, inbox and leases.

SQLite (WAL) by default, PostgreSQL or MariaDB in production, through SQLAlchemy 2 Core; the
schema is owned by Alembic migrations applied on first use.

`StateStore` and `open_store` are loaded on first use, so importing a light submodule
(`connector.state.migrate` for the migration heads) does not import SQLAlchemy
(bench/cli_startup.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.state.store import StateStore, open_store

__all__ = ["StateStore", "open_store"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from connector.state import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
