"""A mapper whose native fields are the canonical paths themselves.

It lets the engine be tested without mapping files: what the in-memory adapter stores is what
`connector.model.flatten` produces, references hold the parent's id in the same system.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from connector.adapter import NativeRecord
from connector.errors import MappingError, UnresolvedReference
from connector.mapping.contract import NativeRef, RefResolver
from connector.model import Entity, Record, canonical_fields, flatten, record_type, unflatten


class IdentityMapper:
    """native `{path: value}` ↔ canonical record, references through the resolver."""

    def __init__(self, entity: Entity, owner: str | None = None, owns: Iterable[str] = ()) -> None:
        self.entity = entity
        self.source = f"<identity mapping for {entity}>"
        self._fields = canonical_fields(entity)
        self._references = record_type(entity).references
        self._owner = owner
        self._owned = frozenset(owns)

    @property
    def inbound_fields(self) -> frozenset[str]:
        return self._fields

    @property
    def outbound_fields(self) -> frozenset[str]:
        return self._fields

    def references(self, native: NativeRecord) -> list[NativeRef]:
        found = []
        for path, entity in self._references.items():
            value = native.fields.get(path)
            if value not in (None, ""):
                found.append(NativeRef(path, entity, str(value)))
        return found

    def to_canonical(self, native: NativeRecord, refs: RefResolver) -> Record:
        flat = dict(native.fields)
        for ref in self.references(native):
            key = refs.canonical_key(ref.entity, ref.external_id)
            if key is None:
                raise UnresolvedReference(ref.entity, ref.external_id, ref.path)
            flat[ref.path] = key or None  # DELETED_REFERENCE: the parent is gone
        try:
            return unflatten(
                self.entity, flat, updated_at=native.updated_at, deleted=native.deleted
            )
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise MappingError(f"{where}: {first['msg']}", code="INVALID_VALUE") from None

    def to_canonical_flat(
        self, native: NativeRecord, refs: RefResolver
    ) -> tuple[Record, dict[str, Any] | None]:
        return self.to_canonical(native, refs), None

    def to_native(
        self,
        record: Record,
        refs: RefResolver,
        *,
        create: bool,
        paths: Collection[str] | None = None,
    ) -> dict[str, Any]:
        flat = flatten(record)
        wanted = flat if paths is None else {path: flat.get(path) for path in paths}
        native: dict[str, Any] = {}
        for path, value in wanted.items():
            entity = self._references.get(path)
            if entity is not None and value is not None:
                external = refs.external_id(entity, value)
                if external is None:
                    raise UnresolvedReference(entity, value, path)
                value = external or None  # DELETED_REFERENCE: the parent is gone
            native[path] = value
        return native

    def native_field(self, path: str) -> str | None:
        return path if path in self._fields else None

    def owner(self, path: str) -> str | None:
        return self._owner if path in self._owned else None


class IdentityMappers:
    """`MapperSource` for systems whose native shape is the canonical one.

    `owner` is named as the master of the paths in `owns`, as a mapping file's `owner:` would.
    """

    def __init__(
        self, owner: str | None = None, owns: Mapping[Entity, Iterable[str]] | None = None
    ) -> None:
        owns = owns or {}
        self._mappers = {
            entity: IdentityMapper(entity, owner, owns.get(entity, ())) for entity in Entity
        }

    def mapper(self, system_kind: str, entity: Entity) -> IdentityMapper:
        return self._mappers[entity]
