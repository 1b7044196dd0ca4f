"""Cursors: per (route, entity), the high-water mark a route has fully synced up to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from connector.state import schema
from connector.state.base import StoreBase, TxBase
from connector.state.failures import FailureStatus
from connector.state.runpath import run_path


@dataclass(frozen=True, slots=True)
class StartingPoint:
    """What a run reads before it pulls an entity's changes (`CursorStore.starting_point`)."""

    watermark: dt.datetime | None
    awaiting: list[str]


class CursorStore(StoreBase):
    """Reading cursors."""

    def cursor(self, route: str, entity: str) -> dt.datetime | None:
        return self.starting_point(route, entity, cursor=True, awaiting_code=None).watermark

    def starting_point(
        self, route: str, entity: str, *, cursor: bool, awaiting_code: str | None
    ) -> StartingPoint:
        """Where a run of `route` starts on `entity`, in one read: its cursor (if `cursor`)
        and the source ids of its pending failures with code `awaiting_code` (if given), the
        records to ask the target after before pulling changes."""
        with self.engine.connect() as conn:
            path = run_path(conn.dialect)
            watermark = None
            if cursor:
                value = path.cursor.run(conn, route=route, entity=entity).scalar_one_or_none()
                watermark = path.hot.datetime_from_db(value)
            awaiting: list[str] = []
            if awaiting_code is not None:
                ids = path.failure_ids.run(
                    conn,
                    route=route,
                    entity=entity,
                    status=FailureStatus.PENDING,
                    code=awaiting_code,
                )
                awaiting = [str(external_id) for external_id in ids.scalars()]
        return StartingPoint(watermark, awaiting)

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
