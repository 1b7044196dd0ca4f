"""Leases: which process runs a route (or drains the inbox) now, and until when.

Taking a lease is a conditional UPDATE (ours already, or expired) and, when no row exists, an
INSERT … ON CONFLICT DO NOTHING whose `RETURNING` says whether we won: psycopg reports rowcount
-1 for that INSERT, so the rowcount cannot tell.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.state import schema
from connector.state.base import StoreBase


class LeaseStore(StoreBase):
    """Taking, releasing and reading leases (each call its own transaction)."""

    def acquire_lease(self, name: str, holder: str, ttl: dt.timedelta) -> bool:
        """Take or renew the lease `name` unless another holder's lease is still live."""
        table = schema.leases
        now = self.clock()
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(table)
                .where(table.c.name == name)
                .where((table.c.holder == holder) | (table.c.expires_at < now))
                .values(holder=holder, acquired_at=now, expires_at=now + ttl)
            ).rowcount
            if taken:
                return True
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            inserted = conn.execute(
                dialect.insert(table)
                .values(name=name, holder=holder, acquired_at=now, expires_at=now + ttl)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(table.c.name)
            ).first()
            return inserted is not None

    def release_lease(self, name: str, holder: str) -> None:
        table = schema.leases
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.name == name, table.c.holder == holder))

    def lease_holder(self, name: str) -> str | None:
        table = schema.leases
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.holder, table.c.expires_at).where(table.c.name == name)
            ).first()
        if row is None or row.expires_at < self.clock():
            return None
        return str(row.holder)
