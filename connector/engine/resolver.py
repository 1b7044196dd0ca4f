"""Reference translation for one system, from bindings fetched before a page is mapped."""

from __future__ import annotations

from collections.abc import Iterable

from connector.model import Entity
from connector.state.store import StateStore


class BindingResolver:
    """A `RefResolver` over an in-memory slice of the bindings table for one system."""

    def __init__(self, store: StateStore, system: str) -> None:
        self._store = store
        self.system = system
        self._to_key: dict[tuple[Entity, str], str] = {}
        self._to_external: dict[tuple[Entity, str], str] = {}

    def learn(self, entity: Entity, key: str, external_id: str) -> None:
        self._to_key[(entity, external_id)] = key
        self._to_external[(entity, key)] = external_id

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
        return self._to_key.get((entity, external_id))

    def external_id(self, entity: Entity, key: str) -> str | None:
        return self._to_external.get((entity, key))
