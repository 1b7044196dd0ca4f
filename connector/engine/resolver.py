"""Reference translation for one system, from bindings fetched before a page is mapped."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import Final, Generic, TypeVar

from connector.mapping.contract import DELETED_REFERENCE
from connector.model import Entity
from connector.state.bindings import Binding, PairedBindings
from connector.state.store import StateStore

#: Entries a resolver keeps per direction and generation before the oldest go (a run of a
#: million records must not hold a million). A page loads what it needs just before mapping,
#: so this only has to cover the pages in flight, which the run says (`expect`): this is the
#: least it keeps.
RECENT = 5_000

K = TypeVar("K")
V = TypeVar("V")
_UNKNOWN: Final = object()


class Recent(Generic[K, V]):
    """A map of the most recently set or read entries: two generations of at most `size`.

    An entry outlives at least `size` later insertions; one read from the old generation moves
    to the new. `size=None` keeps everything (a dry run's planned records exist nowhere else).
    """

    def __init__(self, size: int | None) -> None:
        self._size = size
        self._new: dict[K, V] = {}
        self._old: dict[K, V] = {}

    def get(self, key: K) -> V | object:
        """The value, or `_UNKNOWN` if it was never set or has been dropped."""
        value = self._new.get(key, _UNKNOWN)
        if value is _UNKNOWN and key in self._old:
            value = self._old.pop(key)
            self[key] = value
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._new[key] = value
        if self._size is not None and len(self._new) >= self._size:
            self._old, self._new = self._new, {}

    def get_all(self, keys: list[K]) -> list[V | object]:
        """`get` of each key, in one call: a page's lookups without a method call each."""
        values: list[V | object] = list(map(self._new.get, keys, repeat(_UNKNOWN)))
        if self._old:  # (some may be in the old generation: moved to the new as `get` does)
            get = self.get
            for index, value in enumerate(values):
                if value is _UNKNOWN:
                    values[index] = get(keys[index])
        return values

    def set_all(self, items: Iterable[tuple[K, V]]) -> None:
        """`self[key] = value` for each item, in one call."""
        size, new = self._size, self._new
        for key, value in items:
            new[key] = value
            if size is not None and len(new) >= size:
                self._old, self._new = new, {}
                new = self._new

    def fit(self, size: int) -> None:
        """Keep at least `size` entries per generation from now on."""
        if self._size is not None:
            self._size = max(self._size, size)

    def __len__(self) -> int:
        return len(self._new) + len(self._old)


class BindingResolver:
    """A `RefResolver` over a bounded in-memory slice of the bindings table for one system.

    What it learned (or loaded from the store, found or not) is kept for the last `RECENT`
    records per direction; a lookup it has dropped asks the store again, so a bound record is
    never reported unbound. `keep_all` keeps everything: in a dry run what was learned is not
    in the store.
    """

    def __init__(self, store: StateStore, system: str, *, keep_all: bool = False) -> None:
        self._store = store
        self.system = system
        size = None if keep_all else RECENT
        #: (entity, external id) → key, and back; None: looked up, not bound in this system.
        self._to_key: Recent[tuple[Entity, str], str | None] = Recent(size)
        self._to_external: Recent[tuple[Entity, str], str | None] = Recent(size)
        #: Records this run saw deleted in their own system; references to them map to empty.
        self._deleted_ids: set[tuple[Entity, str]] = set()
        self._deleted_keys: set[tuple[Entity, str]] = set()

    def held(self) -> int:
        """How many entries the resolver holds (both directions)."""
        return len(self._to_key) + len(self._to_external)

    def expect(self, in_flight: int) -> None:
        """The pages in flight hold up to `in_flight` records: keep at least that many per
        generation, so that what a page loaded is still there when it is used."""
        self._to_key.fit(in_flight)
        self._to_external.fit(in_flight)

    @property
    def noted_deletions(self) -> bool:
        """Whether this run noted a deletion here (`deleted`; every `forget` comes after one):
        until then, an entry learnt stays right until dropped, and a dropped one the store
        answers (a dry run drops none), so a binding learnt already need not be learnt again."""
        return bool(self._deleted_ids or self._deleted_keys)

    def learn(self, entity: Entity, key: str, external_id: str) -> None:
        self._to_key[(entity, external_id)] = key
        self._to_external[(entity, key)] = external_id
        if self._deleted_ids or self._deleted_keys:  # (a run that saw no deletion: every call)
            self._deleted_ids.discard((entity, external_id))
            self._deleted_keys.discard((entity, key))

    def learn_all(self, entity: Entity, bound: list[tuple[str, str]]) -> None:
        """`learn` each (key, external id): a page's bindings in one call."""
        if self._deleted_ids or self._deleted_keys:
            for key, external_id in bound:
                self.learn(entity, key, external_id)
            return
        self._to_key.set_all([((entity, external_id), key) for key, external_id in bound])
        self._to_external.set_all([((entity, key), external_id) for key, external_id in bound])

    def forget(self, entity: Entity, key: str) -> None:
        """Drop what was learned about a record whose binding was just removed."""
        # Only what is cached: the unbinding may not be committed yet, the store would still
        # answer with the binding.
        external_id = self._to_external.get((entity, key))
        self._to_external[(entity, key)] = None
        if isinstance(external_id, str):
            self._to_key[(entity, external_id)] = None

    def deleted(
        self, entity: Entity, *, external_ids: Iterable[str] = (), keys: Iterable[str] = ()
    ) -> None:
        """Note records as deleted: while unbound, references to them resolve to empty."""
        self._deleted_ids.update((entity, i) for i in external_ids)
        self._deleted_keys.update((entity, k) for k in keys)

    def load_external_ids(self, entity: Entity, external_ids: Iterable[str]) -> list[str]:
        """Fetch keys for these ids; returns the ids that are not bound in this system."""
        wanted = set(external_ids)
        return sorted(wanted - self.bound_keys(entity, wanted).keys())

    def bound_keys(self, entity: Entity, external_ids: Iterable[str]) -> dict[str, str]:
        """id → key for those of these ids that are bound in this system: a page's
        `bound_key`s in one pass, what the resolver does not hold as bound asked of the store
        in one query (as `load_external_ids` asks)."""
        external_ids = list(external_ids)
        held = self._to_key.get_all([(entity, external_id) for external_id in external_ids])
        found: dict[str, str] = {}
        wanted: list[str] = []
        for external_id, key in zip(external_ids, held, strict=True):
            if type(key) is str:
                found[external_id] = key
            else:  # never loaded, dropped since, or looked up unbound: the store knows now
                wanted.append(external_id)
        if not wanted:
            return found
        loaded = self._store.keys_for(entity, self.system, wanted)
        learnt: list[tuple[str, str]] = []
        for external_id in wanted:
            key = loaded.get(external_id)
            if key is not None:
                learnt.append((key, external_id))
                found[external_id] = key
            else:
                self._to_key[(entity, external_id)] = None
        self.learn_all(entity, learnt)
        return found

    def bound_bindings(
        self, entity: Entity, external_ids: Iterable[str], other: str
    ) -> tuple[dict[str, str], PairedBindings]:
        """`bound_keys`, and the store's bindings of those records by key, here and (`other` of
        the second) in system `other`, from one query (`BindingStore.both_sides_by_id`).

        For a page whose plan compares with the source's snapshots: the store is asked about
        every id (the resolver holds keys, not snapshots), and that one answer gives all. A
        key the resolver holds stays the record's key, as in `bound_keys`; a binding the
        store holds under another key (none, unless the resolver is ahead of the store: a dry
        run binds nothing) is left out, on both sides, for the plan to read by key as before.
        """
        external_ids = list(external_ids)
        stored, stored_there = self._store.both_sides_by_id(
            entity, self.system, other, external_ids
        )
        held = self._to_key.get_all([(entity, external_id) for external_id in external_ids])
        keys: dict[str, str] = {}
        there: dict[str, Binding] = {}
        bindings = PairedBindings(there)
        learnt: list[tuple[str, str]] = []
        for external_id, key in zip(external_ids, held, strict=True):
            binding = stored.get(external_id)
            if type(key) is not str:
                if binding is None:
                    self._to_key[(entity, external_id)] = None
                    continue
                key = binding.key
                learnt.append((key, external_id))
            keys[external_id] = key
            if binding is not None and binding.key == key:
                bindings[key] = binding
                found = stored_there.get(key)
                if found is not None:
                    there[key] = found
        self.learn_all(entity, learnt)
        return keys, bindings

    def load_keys(self, entity: Entity, keys: Iterable[str]) -> list[str]:
        """Fetch ids for these keys; returns the keys that have no record in this system."""
        keys = list(keys)
        held = self._to_external.get_all([(entity, key) for key in keys])
        wanted = {key for key, value in zip(keys, held, strict=True) if type(value) is not str}
        found = self._store.bindings_for(entity, self.system, wanted)
        for key in wanted:
            binding = found.get(key)
            if binding is not None:
                self.learn(entity, key, binding.external_id)
            else:
                self._to_external[(entity, key)] = None
        return sorted(wanted - found.keys())

    def canonical_key(self, entity: Entity, external_id: str) -> str | None:
        key = self._to_key.get((entity, external_id))
        if isinstance(key, str):
            return key
        if (entity, external_id) in self._deleted_ids:  # seen deleted: no need to ask
            return DELETED_REFERENCE
        return self.bound_key(entity, external_id) if key is _UNKNOWN else None

    def external_id(self, entity: Entity, key: str) -> str | None:
        external_id = self._to_external.get((entity, key))
        if isinstance(external_id, str):
            return external_id
        if (entity, key) in self._deleted_keys:
            return DELETED_REFERENCE
        return self._external(entity, key) if external_id is _UNKNOWN else None

    def bound_key(self, entity: Entity, external_id: str) -> str | None:
        """The key this record is bound to, if any (never `DELETED_REFERENCE`)."""
        key = self._to_key.get((entity, external_id))
        if key is _UNKNOWN:  # never loaded, or dropped since: the store knows
            self.load_external_ids(entity, [external_id])
            key = self._to_key.get((entity, external_id))
        return key if isinstance(key, str) else None

    def _external(self, entity: Entity, key: str) -> str | None:
        external_id = self._to_external.get((entity, key))
        if external_id is _UNKNOWN:
            self.load_keys(entity, [key])
            external_id = self._to_external.get((entity, key))
        return external_id if isinstance(external_id, str) else None
