"""The portal's property definitions, read as the adapter's native shape (`connector check`).

`GET /crm/v3/properties/{objectType}` answers `{"results": [Property…]}` without paging
(hubspot.md §4). A `Property` has `name`, `type` (`string | number | date | datetime |
enumeration | bool | phone_number`), `fieldType`, `options[]` (`label`, `value`, `hidden`),
`calculated`, `hasUniqueValue`, `hubspotDefined` and `modificationMetadata.readOnlyValue`
(same section; the Properties API reference, https://developers.hubspot.com/docs/api-reference/
crm-properties-v3/core/patch-crm-v3-properties-objectType-propertyName, shows the full shape).

How the answer is read:

* An enumeration takes only its options: "values can only include options that exactly match
  one or more of the `options` set for the property", a rule HubSpot says was "already in
  place for other CRM objects" before it reached contacts
  (https://developers.hubspot.com/changelog/upcoming-increased-validation-for-contact-updates-made-through-apis).
  So every enumeration is a *restricted* list here: a value-map value outside it is an error.
  A hidden option stays a value ("Hidden options won't be shown in HubSpot", the
  `OptionInput` reference): it is hidden from people, not refused.
* A property whose value is read-only (`modificationMetadata.readOnlyValue`) or that HubSpot
  calculates (`calculated`, e.g. a line item's `amount`) cannot be written at all.
* Every value travels as text (hubspot.md §1.3), but HubSpot checks a number or boolean
  property's text on write (`INVALID_DECIMAL`, `INVALID_BOOLEAN`), so those are typed by what
  they hold; dates and datetimes take epoch ms or ISO text and stay text, as in Salesforce's
  describe reading.

The adapter's pseudo-fields appear with the abilities of what they become: `owner_email` is
written as `hubspot_owner_id`; `associations.company` / `.contact` are links written through
the associations API (always there for the objects that carry them, `associations.CARRIED`);
`lines` are the deal's line items, described from the `line_items` properties. Beyond the
mapping files, the keys the adapter passes as `idProperty` must be unique (`adapter_problems`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from connector.model import Entity
from connector.native_schema import NativeField, NativeSchema

from . import associations as assoc
from .objects import (
    ASSOCIATIONS,
    CONNECTOR_KEY,
    LINE_ITEMS,
    LINES,
    OWNER_EMAIL,
    OWNER_ID,
    spec,
)

#: What a number or boolean property holds (its values arrive as text, checked on write).
_PYTHON_TYPES: dict[str, type] = {"number": float, "bool": bool}
MISSING_HINT = (
    "run `connector hubspot setup` (it creates the properties the mapping files name), or "
    "correct the name"
)

#: Reads one object type's property list (the raw `results`); one call per object type.
FetchProperties = Callable[[str], Awaitable[list[Mapping[str, Any]]]]


def native_field(described: Mapping[str, Any]) -> NativeField:
    """One `Property` of the Properties API as a `NativeField`."""
    kind = str(described.get("type") or "string")
    meta = described.get("modificationMetadata") or {}
    writable = not (bool(meta.get("readOnlyValue")) or bool(described.get("calculated")))
    values = None
    listed = [o for o in described.get("options") or [] if o.get("value") is not None]
    # Options kept elsewhere (`externalOptions`: owners, pipeline stages) and listed empty are
    # unknown here, not an empty list that would refuse every value.
    if kind == "enumeration" and (listed or not described.get("externalOptions")):
        values = tuple(str(option["value"]) for option in listed)
    label = f"calculated {kind}" if described.get("calculated") else kind
    return NativeField(
        name=str(described["name"]),
        type_label=label,
        python_type=_PYTHON_TYPES.get(kind, str),
        createable=writable,
        updateable=writable,
        values=values,
        restricted=values is not None,
        computed=bool(described.get("calculated")),
    )


def _fields(properties: Iterable[Mapping[str, Any]]) -> dict[str, NativeField]:
    return {
        str(entry["name"]): native_field(entry)
        for entry in properties
        if entry.get("name") and not entry.get("archived")
    }


def _pseudo(entity: Entity, fields: Mapping[str, NativeField]) -> dict[str, NativeField]:
    """The adapter's pseudo-fields of `entity`, given its object's real properties."""
    found: dict[str, NativeField] = {}
    owner = fields.get(OWNER_ID)
    if owner is not None:  # absent owner property: the write would fail, so no pseudo-field
        found[OWNER_EMAIL] = NativeField(
            OWNER_EMAIL,
            f"email (written as {OWNER_ID})",
            python_type=str,
            createable=owner.createable,
            updateable=owner.updateable,
        )
    carried = assoc.CARRIED[spec(entity).object_type]
    for pseudo, object_type in assoc.PSEUDO_TO_OBJECT.items():
        if object_type in carried:
            name = f"{ASSOCIATIONS}.{pseudo}"
            found[name] = NativeField(name, f"association to {object_type}", python_type=str)
    if carried:
        found[ASSOCIATIONS] = NativeField(ASSOCIATIONS, "associations", python_type=None)
    if entity is Entity.SALE:
        found[LINES] = NativeField(LINES, f"the deal's {LINE_ITEMS}", python_type=None)
    return found


def adapter_problems(entity: Entity, properties: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """What the adapter needs whatever the mapping says: the keys it passes as `idProperty`
    (`connector_key` on every upsert, the ERP number on lookups) must be unique properties, or
    HubSpot refuses the call ("Unable to perform update/upsert by non-unique … property",
    hubspot.md §1). A missing one is the probe's and the mapping check's to report."""
    by_name = {str(p.get("name")): p for p in properties if not p.get("archived")}
    object_spec = spec(entity)
    object_type = object_spec.object_type
    problems = []
    for key in (CONNECTOR_KEY, object_spec.erp_key_property):
        found = by_name.get(key)
        if found is not None and not found.get("hasUniqueValue"):
            problems.append(
                f"{object_type}.{key} is not a unique property, but the adapter reads and writes "
                "records by it (idProperty); HubSpot cannot make an existing property unique: "
                f"archive {key} and run `connector hubspot setup` to create it unique"
            )
    return tuple(problems)


def native_schema(
    entity: Entity,
    properties: Iterable[Mapping[str, Any]],
    line_properties: Iterable[Mapping[str, Any]] | None = None,
) -> NativeSchema:
    """The native shape of `entity` from its object's properties (and, for a sale, the line
    items' properties)."""
    object_type = spec(entity).object_type
    properties = list(properties)
    fields = _fields(properties)
    fields.update(_pseudo(entity, fields))
    lines = None
    if line_properties is not None:
        lines = NativeSchema(LINE_ITEMS, _fields(line_properties), missing_hint=MISSING_HINT)
    # Property names are lowercase internal names and the API matches them exactly.
    return NativeSchema(
        object_type,
        fields,
        lines=lines,
        missing_hint=MISSING_HINT,
        problems=adapter_problems(entity, properties),
    )


class PropertyCatalog:
    """The property lists of one run, read once per object type."""

    def __init__(self, fetch: FetchProperties) -> None:
        self._fetch = fetch
        self._known: dict[str, list[Mapping[str, Any]]] = {}

    async def properties(self, object_type: str) -> list[Mapping[str, Any]]:
        found = self._known.get(object_type)
        if found is None:
            found = await self._fetch(object_type)
            self._known[object_type] = found
        return found

    async def describe(self, entity: Entity) -> NativeSchema:
        """`entity`'s native shape (a sale's with its lines)."""
        properties = await self.properties(spec(entity).object_type)
        lines = await self.properties(LINE_ITEMS) if entity is Entity.SALE else None
        return native_schema(entity, properties, lines)


def results_of(body: Any) -> list[Mapping[str, Any]]:
    """The `results` of a property list answer (an empty list for anything else)."""
    results = body.get("results") if isinstance(body, Mapping) else None
    return [entry for entry in results or [] if isinstance(entry, Mapping)]
