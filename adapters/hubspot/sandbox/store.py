"""The in-memory CRM: records with ids, string properties, timestamps, archiving and uniqueness.

Uniqueness covers every property created with `hasUniqueValue` (hubspot.md §4) and the contact
`email`, which HubSpot also de-duplicates ("Contact already exists. Existing ID: 51", §6).
Archived records give their unique values up, so the same key can be created again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .calculated import calculate
from .clock import Clock, iso_from_ms
from .errors import ApiError, JsonDict, conflict, not_found, validation
from .objecttypes import OBJECT_TYPES, ObjectType
from .properties import SYSTEM_TIMESTAMPS, PropertyRegistry, coerce_input, render_value

FIRST_ID = 10_001


@dataclass
class Record:
    id: int
    object_type: ObjectType
    values: dict[str, str]
    created_ms: int
    updated_ms: int
    archived: bool = False
    archived_ms: int | None = None

    def value(self, name: str) -> str | None:
        """A property's stored value (system properties included), None when unset."""
        if name == "hs_object_id":
            return str(self.id)
        if name == "createdate":
            return str(self.created_ms)
        if name == self.object_type.modified_property:
            return str(self.updated_ms)
        stored = self.values.get(name)
        return stored if stored else None


@dataclass(frozen=True)
class Change:
    """What one write did, for webhooks: `changed` maps property → new value."""

    kind: str  # "creation" | "propertyChange" | "deletion"
    record: Record
    changed: dict[str, str] = field(default_factory=dict)
    source: str = "INTEGRATION"


ChangeListener = Callable[[Change], None]


def _unique_key(property_name: str, value: str) -> str:
    return value.lower() if property_name == "email" else value


class ObjectStore:
    """Records of every object type, their unique-value indexes, and change notification."""

    def __init__(self, clock: Clock, registry: PropertyRegistry) -> None:
        self.clock = clock
        self.registry = registry
        self.records: dict[str, dict[int, Record]] = {t.name: {} for t in OBJECT_TYPES}
        self._unique: dict[tuple[str, str], dict[str, int]] = {}
        self._next_id = FIRST_ID
        self.listeners: list[ChangeListener] = []
        self.date_values = "iso"
        self.enforce_required = True
        #: Store values as a portal normalises them (`values.py`); the `normalize_values` switch.
        self.normalize = True

    # ----- lookups ---------------------------------------------------------------------------
    def unique_properties(self, object_type: ObjectType) -> list[str]:
        names = self.registry.unique_names(object_type.name)
        return [*names, "email"] if object_type.name == "contacts" else names

    def find(
        self,
        object_type: ObjectType,
        key: str,
        id_property: str | None = None,
        *,
        archived: bool = False,
    ) -> Record | None:
        records = self.records[object_type.name]
        if id_property in (None, "", "hs_object_id"):
            found = records.get(int(key)) if key.strip().isdigit() else None
        else:
            assert id_property is not None
            self.require_unique_property(object_type, id_property)
            index = self._unique.get((object_type.name, id_property), {})
            record_id = index.get(_unique_key(id_property, key))
            if record_id is None and archived:
                record_id = self._scan_archived(object_type, id_property, key)
            found = records.get(record_id) if record_id is not None else None
        if found is None or found.archived != archived:
            return None
        return found

    def _scan_archived(self, object_type: ObjectType, prop: str, key: str) -> int | None:
        for record in self.records[object_type.name].values():
            if record.archived and record.values.get(prop) == key:
                return record.id
        return None

    def require_unique_property(self, object_type: ObjectType, id_property: str) -> None:
        if id_property not in self.unique_properties(object_type):
            raise validation(
                f"Unable to perform update/upsert by non-unique {object_type.type_id} "
                f"property {id_property}",
                code="INVALID_ID_PROPERTY",
                propertyName=[id_property],
            )

    def active(self, object_type: ObjectType) -> list[Record]:
        return [r for r in self.records[object_type.name].values() if not r.archived]

    # ----- validation ------------------------------------------------------------------------
    def coerce(self, object_type: ObjectType, raw: Mapping[str, Any]) -> dict[str, str]:
        """Validate written properties; all problems of one input are reported together."""
        coerced: dict[str, str] = {}
        problems: list[JsonDict] = []
        for name, value in raw.items():
            defn = self.registry.get(object_type.name, name)
            if defn is None:
                problems.append(
                    {
                        "message": f'Property "{name}" does not exist',
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": [name]},
                    }
                )
            elif defn.read_only:
                problems.append(
                    {
                        "message": f'"{name}" is a read only property; its value cannot be set.',
                        "code": "READ_ONLY_VALUE",
                        "context": {"propertyName": [name]},
                    }
                )
            else:
                try:
                    coerced[name] = coerce_input(
                        defn, value, object_name=object_type.name, normalize=self.normalize
                    )
                except ApiError as bad:
                    problems.extend(bad.errors)
        if problems:
            listed = ", ".join(str(p["message"]) for p in problems)
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"Property values were not valid: [{listed}]",
                errors=problems,
            )
        return coerced

    def check_required(self, object_type: ObjectType, values: Mapping[str, str]) -> None:
        if not self.enforce_required:
            return
        for any_of in object_type.required_on_create:
            if not any(values.get(name) for name in any_of):
                wanted = " or ".join(any_of)
                raise validation(
                    f"Missing required property for {object_type.singular}: {wanted}",
                    code="REQUIRED_PROPERTY",
                    propertyName=list(any_of),
                )

    def check_unique(
        self,
        object_type: ObjectType,
        values: Mapping[str, str],
        own_id: int | None,
        claimed: dict[tuple[str, str], int] | None = None,
    ) -> None:
        """409 when a unique value belongs to another record (or an earlier batch input)."""
        for prop in self.unique_properties(object_type):
            value = values.get(prop)
            if not value:
                continue
            key = _unique_key(prop, value)
            holder = self._unique.get((object_type.name, prop), {}).get(key)
            if holder is None and claimed is not None:
                holder = claimed.get((prop, key))
            if holder is not None and holder != own_id:
                if prop == "email":
                    message = f"Contact already exists. Existing ID: {holder}"
                else:
                    message = (
                        f"A {object_type.singular} with the unique value {prop}={value} "
                        f"already exists. Existing ID: {holder}"
                    )
                raise conflict(message, propertyName=[prop], existingId=[str(holder)])

    def claims(self, object_type: ObjectType, values: Mapping[str, str]) -> list[tuple[str, str]]:
        """The (property, key) pairs a write would take in the unique indexes."""
        return [
            (prop, _unique_key(prop, values[prop]))
            for prop in self.unique_properties(object_type)
            if values.get(prop)
        ]

    # ----- writes ----------------------------------------------------------------------------
    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def insert(
        self,
        object_type: ObjectType,
        values: dict[str, str],
        *,
        source: str,
        record_id: int | None = None,
        at_ms: int | None = None,
        notify: bool = True,
    ) -> Record:
        now = self.clock.now_ms() if at_ms is None else at_ms
        clean = {k: v for k, v in values.items() if v != ""}
        calculate(object_type.name, clean, plain=self.normalize)
        record = Record(record_id or self.new_id(), object_type, clean, now, now)
        self.records[object_type.name][record.id] = record
        self._index(record)
        if notify:
            self._emit(Change("creation", record, dict(clean), source))
        return record

    def apply(self, record: Record, values: Mapping[str, str], *, source: str) -> dict[str, str]:
        """Set values on a record; bumps the modified date only if something changed."""
        changed = {k: v for k, v in values.items() if record.values.get(k, "") != v}
        if not changed:
            return changed
        self._unindex(record)
        for name, value in changed.items():
            if value == "":
                record.values.pop(name, None)
            else:
                record.values[name] = value
        calculate(record.object_type.name, record.values, plain=self.normalize)
        self._index(record)
        record.updated_ms = max(self.clock.now_ms(), record.updated_ms)
        self._emit(Change("propertyChange", record, changed, source))
        return changed

    def archive(self, record: Record, *, source: str) -> None:
        if record.archived:
            return
        self._unindex(record)
        record.archived = True
        record.archived_ms = self.clock.now_ms()
        self._emit(Change("deletion", record, {}, source))

    def set_modified(self, records: Iterable[Record], epoch_ms: int) -> int:
        count = 0
        for record in records:
            record.updated_ms = epoch_ms
            count += 1
        return count

    def clear(self) -> None:
        for records in self.records.values():
            records.clear()
        self._unique.clear()
        self._next_id = FIRST_ID

    def _index(self, record: Record) -> None:
        for prop in self.unique_properties(record.object_type):
            value = record.values.get(prop)
            if value:
                index = self._unique.setdefault((record.object_type.name, prop), {})
                index[_unique_key(prop, value)] = record.id

    def _unindex(self, record: Record) -> None:
        for prop in self.unique_properties(record.object_type):
            value = record.values.get(prop)
            index = self._unique.get((record.object_type.name, prop))
            if value and index is not None and index.get(_unique_key(prop, value)) == record.id:
                del index[_unique_key(prop, value)]

    def reindex(self, object_type: ObjectType) -> None:
        """Rebuild unique indexes after a property became unique."""
        for key in [k for k in self._unique if k[0] == object_type.name]:
            del self._unique[key]
        for record in self.active(object_type):
            self._index(record)

    def _emit(self, change: Change) -> None:
        for listener in self.listeners:
            listener(change)

    # ----- rendering -------------------------------------------------------------------------
    def render(self, record: Record, requested: Iterable[str] | None = None) -> JsonDict:
        """`SimplePublicObject`: every value a string; requested but unset properties are null."""
        names = list(requested) if requested is not None else []
        if not names:
            names = list(record.object_type.default_properties)
        properties: dict[str, str | None] = {}
        for name in names:
            defn = self.registry.get(record.object_type.name, name)
            if defn is None:
                continue
            stored = record.value(name)
            if stored is None:
                properties[name] = None
            elif name in SYSTEM_TIMESTAMPS:
                iso = self.date_values == "iso"
                properties[name] = iso_from_ms(int(stored)) if iso else stored
            else:
                properties[name] = render_value(
                    defn, stored, self.date_values, midnight_datetimes=self.normalize
                )
        body: JsonDict = {
            "id": str(record.id),
            "properties": properties,
            "createdAt": iso_from_ms(record.created_ms),
            "updatedAt": iso_from_ms(record.updated_ms),
            "archived": record.archived,
        }
        if record.archived and record.archived_ms is not None:
            body["archivedAt"] = iso_from_ms(record.archived_ms)
        return body


def require(record: Record | None, object_type: ObjectType, key: str) -> Record:
    if record is None:
        raise not_found(f"Could not find {object_type.singular} with id {key}", ids=[key])
    return record
