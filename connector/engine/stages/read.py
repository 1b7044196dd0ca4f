"""Read: what the source gives for one page, split into records to sync and records deleted.

The change feed itself is pulled by `RouteRun.sync_entity` (its pages feed the `Cursor`); this
stage turns one page into data, reads parents a page refers to, and finds the records the
target accepted but has not confirmed yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from connector.adapter import Adapter, NativeRecord
from connector.engine.decide import dedupe_latest
from connector.engine.stages.calls import failed_for_now
from connector.errors import AwaitingTarget
from connector.model import Entity
from connector.state.cursors import StartingPoint
from connector.state.store import StateStore

log = logging.getLogger("connector.engine")


@dataclass(frozen=True)
class SourcePage:
    """One page of source records, each id once (its latest version)."""

    records: list[NativeRecord]

    @property
    def live(self) -> list[NativeRecord]:
        """To map and write (one the adapter could not read whole among them: see map.py)."""
        return [record for record in self.records if not record.deleted]

    @property
    def deleted(self) -> list[NativeRecord]:
        return [record for record in self.records if record.deleted]


#: A record's id, in C (`split_page` asks it of every record of every page).
_ID: Callable[[NativeRecord], str] = attrgetter("id")


def split_page(records: Sequence[NativeRecord]) -> SourcePage:
    """A page as the stages see it: a record read twice counts once, as its last version."""
    return SourcePage(dedupe_latest(records, _ID))


async def read_parents(
    source: Adapter, route: str, entity: Entity, ids: Sequence[str]
) -> list[NativeRecord]:
    """Parents to sync before their children. When the source cannot give them now, the
    children fail alone (an unresolved reference, retried later), not their whole page."""
    try:
        return await source.read(entity, ids)
    except Exception as error:
        if not failed_for_now(error):
            raise
        log.warning(
            "parents could not be read",
            extra={"route": route, "entity": entity.value, "error": str(error)},
        )
        return []


def starting_point(
    store: StateStore, route: str, entity: Entity, *, cursor: bool, awaiting: bool
) -> StartingPoint:
    """What a run reads before it pulls `entity`'s changes, in one read of the store: the
    cursor (if `cursor`), and (if `awaiting`) the source ids of records the target accepted but
    has not confirmed yet (a staging row the ERP's import job has still to process), which are
    written again before the change feed."""
    code = AwaitingTarget.CODE if awaiting else None
    return store.starting_point(route, entity.value, cursor=cursor, awaiting_code=code)
