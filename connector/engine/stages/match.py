"""Match: each mapped record gets its canonical key.

A record bound on the source side keeps its key. An unbound one is looked up in the target by
the route's `match` paths (customer number, email, …) before anything is created, so a record
that exists there already is updated, not duplicated; where the target's upsert matches on
that field by itself (`Capabilities.upsert_matches`) no lookup call is made. The rest get new
keys. When the target cannot be asked now, the unbound records wait (retryable failures).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.adapter import Adapter, NativeRecord
from connector.config import RouteConfig
from connector.engine.prepare import Failed, new_keys
from connector.engine.resolver import BindingResolver
from connector.engine.stages.calls import failed_for_now
from connector.errors import RecordError
from connector.mapping.contract import EntityMapper
from connector.model import Entity, Record, path_value
from connector.state.bindings import PairedBindings
from connector.state.store import StateStore


@dataclass
class Keyed:
    records: list[tuple[NativeRecord, Record, str]] = field(default_factory=list)
    #: Unbound records the target could not be asked about: they wait, retryably.
    failed: list[Failed] = field(default_factory=list)
    #: Keys made here for records found nowhere: no binding can hold them yet.
    fresh: set[str] = field(default_factory=set)
    #: Keys of records found in the target by a natural key (bound there, not in the source).
    matched: set[str] = field(default_factory=set)
    #: The source's bindings of the records bound there, by key, read with their keys (the
    #: matcher's `with_source`), and the target's bindings of the same keys with them
    #: (`PairedBindings.other`); None: not read here.
    source: PairedBindings | None = None

    @property
    def keys(self) -> list[str]:
        return [key for _, _, key in self.records]

    @property
    def known_keys(self) -> list[str]:
        """The keys the store may hold bindings of: all but the fresh ones (a first sync's
        page asks the store about none of its records' bindings)."""
        fresh = self.fresh
        return [key for _, _, key in self.records if key not in fresh]

    @property
    def unbound(self) -> set[str]:
        """The keys not bound in the source before this page (matched or fresh): the others
        the source's resolver holds already, from the lookup that found them."""
        return self.fresh | self.matched


class Matcher:
    def __init__(
        self,
        store: StateStore,
        route: RouteConfig,
        target: Adapter,
        source_refs: BindingResolver,
        target_refs: BindingResolver,
        *,
        dry_run: bool,
        with_source: bool = False,
    ) -> None:
        self.store = store
        self.route = route
        self.target = target
        self.source_refs = source_refs
        self.target_refs = target_refs
        self.dry_run = dry_run
        #: Read the source's bindings with the keys, and the target's of those keys
        #: (`Keyed.source`): for a route whose plan compares with the source's snapshots, one
        #: query instead of three.
        self.with_source = with_source

    async def assign_keys(
        self,
        entity: Entity,
        mapped: list[tuple[NativeRecord, Record]],
        target_mapper: EntityMapper,
    ) -> Keyed:
        """Existing bindings first; then natural-key matches in the target; then new keys."""
        keyed = Keyed()
        unbound: list[tuple[NativeRecord, Record]] = []
        # The page's bindings in one pass (one query for what the resolver does not hold, or
        # for all, with the source's bindings the plan reads).
        ids = [native.id for native, _ in mapped]
        if self.with_source:
            bound, keyed.source = self.source_refs.bound_bindings(entity, ids, self.route.target)
        else:
            bound = self.source_refs.bound_keys(entity, ids)
        for native, record in mapped:
            key = bound.get(native.id)
            if key is not None:
                record.key = key
                keyed.records.append((native, record, key))
            else:
                unbound.append((native, record))
        try:
            matches = await self._match(entity, unbound, target_mapper)
        except Exception as error:
            if not failed_for_now(error):
                raise
            # Without the target's answer a create could duplicate a record that exists there:
            # only the unbound records wait (retryable failures); the bound ones go on.
            keyed.failed = [Failed(native, None, "match", error) for native, _ in unbound]
            return keyed
        # The new keys in one draw of random bytes (`new_keys`), one per record left unmatched.
        minted = new_keys(sum(1 for native, _ in unbound if not matches.get(native.id)))
        keyed.fresh.update(minted)
        fresh = iter(minted)
        keyed.matched.update(matches.values())
        for native, record in unbound:
            record.key = matches.get(native.id) or next(fresh)
            keyed.records.append((native, record, record.key))
        return keyed

    async def _match(
        self, entity: Entity, unbound: list[tuple[NativeRecord, Record]], mapper: EntityMapper
    ) -> dict[str, str]:
        """Find unbound records in the target by the route's natural keys → {source id: key}.

        A target record found is bound to its key at once (before the source side and the
        write), the page's matches in one transaction.
        """
        found: dict[str, str] = {}
        #: Target records found here and not bound yet: target id → the key they get.
        matched: dict[str, str] = {}
        upsert_field = self.target.capabilities.upsert_matches.get(entity)
        for path in self.route.entities[entity].match:
            native_field = mapper.native_field(path)
            if native_field is None or native_field == upsert_field:
                continue  # the target's upsert matches on this field by itself
            wanted: dict[str, str] = {}
            only = frozenset((path,))  # (made once: `to_native` takes a frozenset as it is)
            for native, record in unbound:
                if native.id in found:
                    continue
                value = path_value(record, path)
                if value not in (None, ""):
                    try:
                        native_value = mapper.to_native(
                            record, self.target_refs, create=True, paths=only
                        ).get(native_field)
                    except RecordError:
                        continue
                    if native_value not in (None, ""):
                        wanted[str(native_value)] = native.id
            if not wanted:
                continue
            hits = await self.target.lookup(entity, native_field, sorted(wanted))
            if not hits:
                continue
            bound = self.store.keys_for(
                entity, self.route.target, [hit.id for hit in hits.values()]
            )
            fresh = iter(new_keys(len(hits)))  # one draw of random bytes, as for the rest
            for value, hit in hits.items():
                source_id = wanted[value]
                key = bound.get(hit.id) or matched.get(hit.id)
                if key is None:
                    key = matched[hit.id] = next(fresh)
                found[source_id] = key
                self.target_refs.learn(entity, key, hit.id)
        if matched and not self.dry_run:
            with self.store.transaction() as tx:
                for target_id, key in matched.items():
                    tx.bind(entity, key, self.route.target, target_id)
        return found
