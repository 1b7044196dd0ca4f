"""The sync-state store: bindings, cursors, runs, failures, inbox and leases.

SQLite (WAL) by default, PostgreSQL in production, through SQLAlchemy 2 Core; the schema is
owned by Alembic migrations applied on first use.
"""

from connector.state.store import StateStore, open_store

__all__ = ["StateStore", "open_store"]
