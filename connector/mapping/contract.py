"""What the engine needs from a mapper: the seam between the engine and the mapping files.

A mapper relates one system's native fields for one entity to canonical paths, both ways. It
never does I/O: references between records are translated through a `RefResolver` that the
engine fills from the bindings table before it maps a page.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NamedTuple, Protocol

from connector.adapter import NativeRecord
from connector.model import Entity, Record

#: What a resolver answers for a referenced record it knows was deleted (a sale whose contact
#: is gone): the mapper writes the reference empty instead of failing the record.
DELETED_REFERENCE = ""


class RefResolver(Protocol):
    """Translates references between one system's ids and canonical keys.

    Each answer is the other side's id, None when the record is not bound (yet), or
    `DELETED_REFERENCE` when the record referred to was deleted.
    """

    def canonical_key(self, entity: Entity, external_id: str) -> str | None: ...

    def external_id(self, entity: Entity, key: str) -> str | None: ...


class NativeRef(NamedTuple):
    """A reference found in a native record: canonical `path` points at `entity` `external_id`."""

    path: str
    entity: Entity
    external_id: str


class EntityMapper(Protocol):
    """One (system kind, entity) mapping, compiled."""

    entity: Entity
    #: Where it was loaded from, for messages.
    source: str

    @property
    def inbound_fields(self) -> frozenset[str]:
        """Canonical paths `to_canonical` can fill."""
        ...

    @property
    def outbound_fields(self) -> frozenset[str]:
        """Canonical paths `to_native` can write."""
        ...

    def references(self, native: NativeRecord) -> list[NativeRef]:
        """The references this native record holds (so the engine can resolve them first)."""
        ...

    def to_canonical(self, native: NativeRecord, refs: RefResolver) -> Record:
        """Native → canonical; sets exactly the paths this system provided.

        Raises `MappingError` for a record that violates the mapping and `UnresolvedReference`
        for a reference whose record is not bound yet.
        """
        ...

    def to_canonical_flat(
        self, native: NativeRecord, refs: RefResolver
    ) -> tuple[Record, dict[str, Any] | None]:
        """`to_canonical`, and the record's `connector.model.flatten` where the mapper made it
        on the way (None: the caller flattens the record itself)."""
        ...

    def to_native(
        self,
        record: Record,
        refs: RefResolver,
        *,
        create: bool,
        paths: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """Canonical → native, limited to `paths` (None: every path the record has set).

        `create_only` fields are written only when `create`; defaults fill empty fields on
        create. Raises `UnresolvedReference` for a reference with no id in this system.
        """
        ...

    def native_field(self, path: str) -> str | None:
        """The native field a canonical path is stored in (for natural-key lookups)."""
        ...

    def owner(self, path: str) -> str | None:
        """The system that wins a conflict on this path, if the mapping names one."""
        ...


class MapperSource(Protocol):
    """Finds the compiled mapper for a system kind and entity."""

    def mapper(self, system_kind: str, entity: Entity) -> EntityMapper: ...


def native_value(fields: Mapping[str, Any], dotted: str) -> Any:
    """A value from nested native JSON by dotted path (`properties.name`); None when absent."""
    value: Any = fields
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
