"""Reference translation for one system, from bindings fetched before a page is mapped."""

from __future__ import annotations

from collections.abc import Iterable

from connector.mapping.contract import DELETED_REFERENCE
from connector.model import Entity
from connector.state.store import StateStore


class BindingResolver:
    """A `RefResolver` over an in-memory slice of the bindings table for one system."""

    def __init__(self, store: StateStore, system: str) -> None:
        self._store = store
        self.system = system
        self._to_key: dict[tuple[Entity, str], str] = {}
        self._to_external: dict[tuple[Entity, str], str] = {}
        #: Records this run saw deleted in their own system; references to them map to empty.
        self._deleted_ids: set[tuple[Entity, str]] = set()
        self._deleted_keys: set[tuple[Entity, str]] = set()

    def learn(self, entity: Entity, key: str, external_id: str) -> None:
        self._to_key[(entity, external_id)] = key
        self._to_external[(entity, key)] = external_id
        self._deleted_ids.discard((entity, external_id))
        self._deleted_keys.discard((entity, key))

    def forget(self, entity: Entity, key: str) -> None:
        """Drop what was learned about a record whose binding was just removed."""
        external_id = self._to_external.pop((entity, key), None)
        if external_id is not None:
            self._to_key.pop((entity, external_id), None)

    def deleted(
        self, entity: Entity, *, external_ids: Iterable[str] = (), keys: Iterable[str] = ()
    ) -> None:
        """Note records as deleted: while unbound, references to them resolve to empty."""
        self._deleted_ids.update((entity, i) for i in external_ids)
        self._deleted_keys.update((entity, k) for k in keys)

    def load_external_ids(self, entity: Entity, external_ids: Iterable[str]) -> list[str]:
        """Fetch keys for these ids; returns the ids that are not bound in this system."""
        wanted = {i for i in external_ids if (entity, i) not in self._to_key}
        for external_id, key in self._store.keys_for(entity, self.system, wanted).items():
            self.learn(entity, key, external_id)
        return sorted(i for i in wanted if (entity, i) not in self._to_key)

    def load_keys(self, entity: Entity, keys: Iterable[str]) -> list[str]:
        """Fetch ids for these keys; returns the keys that have no record in this system."""
        wanted = {k for k in keys if (entity, k) not in self._to_external}
        for key, binding in self._store.bindings_for(entity, self.system, wanted).items():
            self.learn(entity, key, binding.external_id)
        return sorted(k for k in wanted if (entity, k) not in self._to_external)

    def canonical_key(self, entity: Entity, external_id: str) -> str | None:
        key = self._to_key.get((entity, external_id))
        if key is None and (entity, external_id) in self._deleted_ids:
            return DELETED_REFERENCE
        return key

    def external_id(self, entity: Entity, key: str) -> str | None:
        external_id = self._to_external.get((entity, key))
        if external_id is None and (entity, key) in self._deleted_keys:
            return DELETED_REFERENCE
        return external_id

    def bound_key(self, entity: Entity, external_id: str) -> str | None:
        """The key this record is bound to, if any (never `DELETED_REFERENCE`)."""
        return self._to_key.get((entity, external_id))
