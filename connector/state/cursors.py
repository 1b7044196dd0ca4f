"""Cursors: per (route, entity), the high-water mark a route has fully synced up to."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from connector.state import schema
from connector.state.base import StoreBase, TxBase, upsert


class CursorStore(StoreBase):
    """Reading cursors."""

    def cursor(self, route: str, entity: str) -> dt.datetime | None:
        table = schema.cursors
        with self.engine.connect() as conn:
            value = conn.execute(
                select(table.c.watermark).where(table.c.route == route, table.c.entity == entity)
            ).scalar_one_or_none()
        return value

    def cursors(self) -> dict[tuple[str, str], dt.datetime | None]:
        table = schema.cursors
        with self.engine.connect() as conn:
            rows = conn.execute(select(table.c.route, table.c.entity, table.c.watermark))
            return {(row.route, row.entity): row.watermark for row in rows}


class CursorTx(TxBase):
    """Moving a cursor in a transaction."""

    def set_cursor(self, route: str, entity: str, watermark: dt.datetime | None) -> None:
        self.flush()
        values = {"route": route, "entity": entity, "watermark": watermark, "updated_at": self.now}
        upsert(
            self._conn, schema.cursors, [values], ("route", "entity"), ("watermark", "updated_at")
        )
