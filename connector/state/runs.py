"""Runs: one row per route run, with its trigger, status, counts per entity and error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from connector.state import schema
from connector.state.base import StoreBase


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    route: str
    trigger: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    counts: dict[str, Any] | None
    error: str | None


class RunStore(StoreBase):
    """Recording and listing runs (each call its own transaction)."""

    def start_run(self, route: str, trigger: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                schema.runs.insert().values(
                    route=route, trigger=trigger, status="running", started_at=self.clock()
                )
            )
            primary_key = result.inserted_primary_key
            assert primary_key is not None
            return int(primary_key[0])

    def finish_run(
        self, run_id: int, status: str, counts: Mapping[str, Any], error: str | None = None
    ) -> None:
        table = schema.runs
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == run_id)
                .values(status=status, finished_at=self.clock(), counts=dict(counts), error=error)
            )

    def last_runs(self, limit: int = 20, route: str | None = None) -> list[Run]:
        table = schema.runs
        query = select(table).order_by(table.c.id.desc()).limit(limit)
        if route is not None:
            query = query.where(table.c.route == route)
        with self.engine.connect() as conn:
            return [Run(**row._mapping) for row in conn.execute(query)]
