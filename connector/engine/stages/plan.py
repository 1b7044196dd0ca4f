"""Plan: what to write for each keyed record, in the target's native fields.

For each record: the diff against what was last synced (`prepare.plan_for`, `decide.plan_write`),
the route's `missing_values` policy for withheld paths, its `create` rule, and the target
mapper's native fields, without the values the target cannot represent (`unrepresentable`).
Reads nothing but what it is given: the bindings come in as `Known`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.adapter import NativeRecord, NativeWrite
from connector.config import MissingPolicy, RouteConfig
from connector.engine.decide import may_create
from connector.engine.prepare import (
    Failed,
    Outgoing,
    as_failure,
    missing_value,
    paths_by_native,
    plan_for,
    unrepresentable,
)
from connector.mapping.contract import EntityMapper, RefResolver
from connector.model import Entity, Record
from connector.state.bindings import Binding, PairedBindings
from connector.state.store import StateStore


@dataclass(frozen=True)
class Known:
    """What the store knows of a page's records, by canonical key."""

    #: The target's bindings: its record id and the snapshot last synced with it.
    target: Mapping[str, Binding] = field(default_factory=dict)
    #: What the source held when last synced: only kept on routes that also write into it.
    source: Mapping[str, Binding] = field(default_factory=dict)


def load_known(
    store: StateStore,
    entity: Entity,
    route: RouteConfig,
    keys: Iterable[str],
    *,
    source: bool,
    source_read: Mapping[str, Binding] | None = None,
) -> Known:
    """The store's bindings of `keys` in the target, and in the source if `source`.

    `source_read`: source bindings read already (`Keyed.source`, with the keys); only the
    keys it lacks are asked for (a record matched in the target: a page of updates asks none).
    Where it holds the target's bindings of its keys too (`PairedBindings`, read in the same
    query), the target is asked about those other keys only.
    """
    keys = list(keys)
    if not source:
        return Known(store.bindings_for(entity, route.target, keys), {})
    if source_read is None:
        return Known(
            store.bindings_for(entity, route.target, keys),
            store.bindings_for(entity, route.source, keys),
        )
    rest = [key for key in keys if key not in source_read]
    if not isinstance(source_read, PairedBindings):
        target = store.bindings_for(entity, route.target, keys)
    elif rest:
        target = {**source_read.other, **store.bindings_for(entity, route.target, rest)}
    else:
        target = source_read.other
    if not rest:
        return Known(target, source_read)
    return Known(target, {**source_read, **store.bindings_for(entity, route.source, rest)})


@dataclass(frozen=True)
class PlanRules:
    """What the route says about writing one entity."""

    source: str
    target: str
    #: The source system's name and kind: an `owner` naming either is the source.
    source_names: frozenset[str]
    #: None: never created in the target.
    create_conditions: dict[str, list[Any]] | None
    missing_policy: MissingPolicy
    #: Write every mapped field even if the snapshot says it is unchanged (`resync`).
    force: bool = False

    @classmethod
    def of(
        cls, route: RouteConfig, entity: Entity, source_names: frozenset[str], force: bool
    ) -> PlanRules:
        options = route.entities[entity]
        return cls(
            route.source,
            route.target,
            source_names,
            options.create_conditions(),
            options.missing_values,
            force,
        )


@dataclass
class Planned:
    #: Every record that goes on (`write` None: nothing to write).
    outgoing: list[Outgoing] = field(default_factory=list)
    #: Not to be created in the target (the route's `create` rule does not allow it).
    skipped: list[Outgoing] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    #: Paths left unwritten because the source has no usable value: path → source ids.
    withheld: dict[str, list[str]] = field(default_factory=dict)


def plan_page(
    keyed: Iterable[tuple[NativeRecord, Record, str]],
    known: Known,
    rules: PlanRules,
    source_mapper: EntityMapper,
    target_mapper: EntityMapper,
    target_refs: RefResolver,
    flats: Mapping[str, dict[str, Any]] | None = None,
) -> Planned:
    """`flats`: records already flattened by the mapper (`Mapped.flats`), by source id."""
    planned = Planned()
    flats = flats or {}
    bindings, source_bindings = known.target, known.source
    # Either file may name a path's owner: each system's file says what it is master of.
    owners = {
        path: target_mapper.owner(path) or source_mapper.owner(path)
        for path in target_mapper.outbound_fields
    }
    owner_of = owners.get

    create_conditions = rules.create_conditions
    missing_policy = rules.missing_policy
    withheld = planned.withheld
    paths_of = paths_by_native(target_mapper.outbound_fields, target_mapper.native_field)
    target_paths = target_mapper.outbound_fields
    source_names, force = rules.source_names, rules.force
    for native, record, key in keyed:
        item = plan_for(
            record,
            native,
            key,
            bindings.get(key),
            source_bindings.get(key),
            target_paths=target_paths,
            source_names=source_names,
            owner_of=owner_of,
            force=force,
            flat=flats.get(native.id),
        )
        if item.plan.withheld:
            if missing_policy is MissingPolicy.FAIL:
                missing = missing_value(item, rules.source, rules.target)
                planned.failed.append(Failed(native, key, "diff", missing))
                continue
            for path in item.plan.withheld:
                withheld.setdefault(path, []).append(native.id)
        if item.plan.create and (
            create_conditions is None or not may_create(item.flat, create_conditions)
        ):
            planned.skipped.append(item)
            continue
        if not item.plan.empty:
            try:
                fields = target_mapper.to_native(
                    record, target_refs, create=item.plan.create, paths=item.plan.paths
                )
            except Exception as error:
                planned.failed.append(as_failure(native, key, "map", error))
                continue
            lost = unrepresentable(item.flat, item.plan.paths, fields, paths_of, record.references)
            if lost:
                item.unrepresentable = lost
                for path in lost:
                    fields.pop(target_mapper.native_field(path) or "", None)
                    withheld.setdefault(path, []).append(native.id)
                if item.plan.paths <= lost:
                    planned.outgoing.append(item)
                    continue
            item.write = NativeWrite(key, item.target_id, fields, source_id=native.id)
        planned.outgoing.append(item)
    return planned
