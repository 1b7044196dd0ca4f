"""The running product: a loaded configuration with its store, adapters and mappers.

`async with Runtime.open(config) as runtime:` connects the store (migrating it), builds and opens
every configured adapter, and closes them all on the way out, whatever happened. The CLI, the
daemon and the tests all start from here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from connector.adapter import Adapter, AdapterContext, adapter_class
from connector.config import AppConfig, System
from connector.errors import InvalidConfiguration
from connector.mapping.contract import EntityMapper, MapperSource
from connector.model import Entity
from connector.state.store import StateStore, open_store


class Mappers:
    """Finds the mapper for a configured system.

    An adapter whose native shape is fixed may bring its own mappers (`mapper_source()`);
    every other system uses the mapping files (the user's folder over the shipped defaults).
    """

    def __init__(self, config: AppConfig, adapters: dict[str, Adapter]) -> None:
        self._config = config
        self._adapters = adapters
        self._files: MapperSource | None = None

    def _mapping_files(self) -> MapperSource:
        if self._files is None:
            from connector.mapping.catalog import MappingCatalog

            self._files = MappingCatalog(self._config.mappings_dir)
        return self._files

    def for_system(self, system: str, entity: Entity) -> EntityMapper:
        own = self._adapters[system].mapper_source()
        if own is not None:
            return own.mapper(self._config.systems[system].kind, entity)
        return self._mapping_files().mapper(self._config.systems[system].kind, entity)


def build_adapter(config: AppConfig, system: System, store: StateStore | None = None) -> Adapter:
    cls = adapter_class(system.kind)
    context = AdapterContext(config.base_dir, row_hashes=store)
    return cls.from_settings(system.name, system.settings, context)


@dataclass
class Runtime:
    config: AppConfig
    store: StateStore
    adapters: dict[str, Adapter]
    mappers: Mappers

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, config: AppConfig, *, store: StateStore | None = None, **adapter_overrides: Any
    ) -> AsyncIterator[Runtime]:
        """Open the store and every adapter (`adapter_overrides` replaces some, for tests)."""
        own_store = store is None
        store = store or open_store(
            config.state.url, config.base_dir, timeouts=config.state.timeouts()
        )
        adapters: dict[str, Adapter] = {}
        try:
            async with contextlib.AsyncExitStack() as stack:
                for name, system in config.systems.items():
                    adapter = adapter_overrides.get(name) or build_adapter(config, system, store)
                    problems = await adapter.open()
                    stack.push_async_callback(adapter.close)
                    if problems:
                        raise InvalidConfiguration(problems)
                    adapters[name] = adapter
                yield cls(config, store, adapters, Mappers(config, adapters))
        finally:
            if own_store:
                store.close()
