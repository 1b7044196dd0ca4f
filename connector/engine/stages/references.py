"""Resolve references: every parent a page refers to exists before the page is written.

On the source side a parent needs a canonical key before its children can map; on the target
side it needs a record there before a child can point at it. A parent missing either way is
read from the source and synced first, as a page of its own (`sync_page`, one level deeper).
If that fails, the child fails alone at mapping (an unresolved reference, retried later).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container, Sequence

from connector.adapter import Adapter, NativeRecord
from connector.config import RouteConfig
from connector.engine.resolver import BindingResolver
from connector.engine.stages.read import read_parents
from connector.mapping.contract import EntityMapper
from connector.model import Entity, Record

#: How deep a chain of "sync the parent first" may go (contact → customer is one level).
MAX_PARENT_DEPTH = 3

#: Syncs a page of parents: (entity, records, depth) → done.
SyncPage = Callable[[Entity, list[NativeRecord], int], Awaitable[None]]


def source_parents(mapper: EntityMapper, records: Sequence[NativeRecord]) -> dict[Entity, set[str]]:
    """The source ids of the parents these records refer to, per parent entity."""
    wanted: dict[Entity, set[str]] = {}
    for native in records:
        for ref in mapper.references(native):
            wanted.setdefault(ref.entity, set()).add(ref.external_id)
    return wanted


def target_parents(records: Sequence[Record]) -> dict[Entity, set[str]]:
    """The canonical keys of the parents these records refer to, per parent entity."""
    wanted: dict[Entity, set[str]] = {}
    for record in records:
        for path, parent_entity in record.references.items():
            key = getattr(record, path, None)
            if key:
                wanted.setdefault(parent_entity, set()).add(key)
    return wanted


class Parents:
    """Syncs the parents a page needs first, on both sides of one route."""

    def __init__(
        self,
        route: RouteConfig,
        source: Adapter,
        source_refs: BindingResolver,
        target_refs: BindingResolver,
        handled: Container[tuple[Entity, str]],
        sync_page: SyncPage,
    ) -> None:
        self.route = route
        self.source = source
        self.source_refs = source_refs
        self.target_refs = target_refs
        #: Records this run has handled already: a parent that failed once is not tried again
        #: for each of its children.
        self._handled = handled
        self.sync_page = sync_page

    async def resolve_source(
        self, mapper: EntityMapper, records: Sequence[NativeRecord], depth: int
    ) -> None:
        """Make sure every parent a record refers to has a canonical key (sync it if not)."""
        for parent_entity, ids in source_parents(mapper, records).items():
            missing = self.source_refs.load_external_ids(parent_entity, ids)
            missing = [i for i in missing if (parent_entity, i) not in self._handled]
            if missing and depth < MAX_PARENT_DEPTH and parent_entity in self.route.entities:
                parents = await self._read_parents(parent_entity, missing)
                if parents:
                    await self.sync_page(parent_entity, parents, depth + 1)
                    self.source_refs.load_external_ids(parent_entity, missing)

    async def resolve_target(self, records: Sequence[Record], depth: int) -> None:
        """Parents that have a key but no record in the target yet are synced there first."""
        for parent_entity, keys in target_parents(records).items():
            missing = self.target_refs.load_keys(parent_entity, keys)
            if not missing or depth >= MAX_PARENT_DEPTH or parent_entity not in self.route.entities:
                continue
            self.source_refs.load_keys(parent_entity, missing)
            source_ids = [
                external
                for key in missing
                if (external := self.source_refs.external_id(parent_entity, key))
                and (parent_entity, external) not in self._handled
            ]
            parents = await self._read_parents(parent_entity, source_ids) if source_ids else []
            if parents:
                await self.sync_page(parent_entity, parents, depth + 1)
                self.target_refs.load_keys(parent_entity, missing)

    async def _read_parents(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        return await read_parents(self.source, self.route.name, entity, ids)
