"""Deletes: records the source reports deleted, handled per the entity's `deletes` policy.

`propagate` deletes the target's record and unbinds both sides, `deactivate` writes the
target's mapping of `status: inactive`, `ignore` leaves the target alone. Either way
references to a deleted record are written empty from now on (`DELETED_REFERENCE`).
"""

from __future__ import annotations

from collections.abc import Callable

from connector.adapter import Adapter, NativeRecord, NativeWrite
from connector.config import DeletePolicy, RouteConfig
from connector.engine.resolver import BindingResolver
from connector.engine.summary import EntityCounts
from connector.mapping.contract import EntityMapper
from connector.model import Entity, record_type
from connector.state.store import StateStore


class Deleter:
    def __init__(
        self,
        store: StateStore,
        route: RouteConfig,
        target: Adapter,
        source_refs: BindingResolver,
        target_refs: BindingResolver,
        mapper: Callable[[str, Entity], EntityMapper],
        check_lease: Callable[[], None],
        *,
        dry_run: bool,
    ) -> None:
        self.store = store
        self.route = route
        self.target = target
        self.source_refs = source_refs
        self.target_refs = target_refs
        self.mapper = mapper
        self.check_lease = check_lease
        self.dry_run = dry_run

    async def apply(
        self, entity: Entity, records: list[NativeRecord], counts: EntityCounts
    ) -> None:
        policy = self.route.entities[entity].deletes
        if not records:
            return
        # References to a deleted record are written empty from now on (DELETED_REFERENCE):
        # in the source always, in the target where the record never arrived.
        self.source_refs.deleted(entity, external_ids=[record.id for record in records])
        keys = self.store.keys_for(entity, self.route.source, [record.id for record in records])
        bindings = self.store.bindings_for(entity, self.route.target, keys.values())
        self.target_refs.deleted(entity, keys=[k for k in keys.values() if k not in bindings])
        if policy is DeletePolicy.IGNORE:
            counts.unchanged += len(records)
            return
        doomed = [
            (record, bindings[keys[record.id]])
            for record in records
            if record.id in keys and keys[record.id] in bindings
        ]
        counts.unchanged += len(records) - len(doomed)
        if not doomed or self.dry_run:
            counts.deleted += len(doomed)
            return
        self.check_lease()
        if policy is DeletePolicy.PROPAGATE:
            results = await self.target.delete(
                entity, [binding.external_id for _, binding in doomed]
            )
        else:
            writes = [
                NativeWrite(b.key, b.external_id, self._deactivation(entity)) for _, b in doomed
            ]
            results = await self.target.upsert(entity, writes)
        failed = {result.external_id for result in results if result.error is not None}
        with self.store.transaction() as tx:
            for _, binding in doomed:
                if binding.external_id in failed:
                    counts.failed += 1
                    continue
                if policy is DeletePolicy.PROPAGATE:
                    tx.unbind(entity, binding.key, self.route.target)
                    tx.unbind(entity, binding.key, self.route.source)
                    self.source_refs.forget(entity, binding.key)
                    self.target_refs.forget(entity, binding.key)
                    self.target_refs.deleted(entity, keys=[binding.key])
                counts.deleted += 1

    def _deactivation(self, entity: Entity) -> dict[str, object]:
        """The target's native fields that mark a record inactive (its mapping of `status`)."""
        mapper = self.mapper(self.route.target, entity)
        record = record_type(entity).model_validate({"status": "inactive"})
        return mapper.to_native(record, self.target_refs, create=False, paths=["status"])
