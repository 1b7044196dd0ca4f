"""Cursors: per (route, entity), the high-water mark a route has fully synced up to."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from connector.state import schema
from connector.state.base import StoreBase, TxBase
from connector.state.runpath import run_path


class CursorStore(StoreBase):
    """Reading cursors."""

    def cursor(self, route: str, entity: str) -> dt.datetime | None:
        with self.engine.connect() as conn:
            # Precompiled (`runpath`): every run reads its cursor, whatever it carries.
            path = run_path(conn.dialect)
            value = path.cursor.run(conn, route=route, entity=entity).scalar_one_or_none()
        return path.hot.datetime_from_db(value)

    def cursors(self) -> dict[tuple[str, str], dt.datetime | None]:
        table = schema.cursors
        with self.engine.connect() as conn:
            rows = conn.execute(select(table.c.route, table.c.entity, table.c.watermark))
            return {(row.route, row.entity): row.watermark for row in rows}


_COLUMNS = ("route", "entity", "watermark", "updated_at")


class CursorTx(TxBase):
    """Moving a cursor in a transaction."""

    def set_cursor(self, route: str, entity: str, watermark: dt.datetime | None) -> None:
        self.flush()
        to_db = self._hot.datetime_to_db
        statement = self._hot.upsert(schema.cursors, _COLUMNS, _COLUMNS[:2], _COLUMNS[2:])
        statement.run_many(self._conn, [(route, entity, to_db(watermark), to_db(self.now))])
