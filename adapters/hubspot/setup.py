"""`connector hubspot setup`: creates the property group and the connector's own properties.

Idempotent: it reads what exists first and creates only what is missing, and it says what it did
in lines a person reads. The unique external-id properties (`connector_key`, `erp_*_no`) must
exist before the first sync, because HubSpot lets only a *new* property be unique ("Once set,
this can't be changed", hubspot.md §4); an existing non-unique property of the same name is
reported, not silently used. Custom properties that mapping files name and the portal lacks are
created as text, except names the adapter knows (`objects.OWN_PROPERTIES`). Pseudo-fields are
not properties; when a mapping names `owner_email`, setup lists the owners once, so a token
without the owners scope is reported here (as a warning) rather than first by a sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from connector.http import HttpConfigurationError
from connector.model import Entity

from .adapter import HubSpotAdapter
from .objects import (
    ASSOCIATIONS,
    LINE_ITEMS,
    LINES,
    OWN_PROPERTIES,
    OWNER_EMAIL,
    CustomProperty,
    spec,
)


class _NamedMapper(Protocol):
    @property
    def entity(self) -> Entity: ...

    @property
    def inbound_fields(self) -> frozenset[str]: ...

    @property
    def outbound_fields(self) -> frozenset[str]: ...

    def native_field(self, path: str) -> str | None: ...


PropertyNames = Mapping[Entity | str, Iterable[str]]


def native_names_of(mappers: Iterable[_NamedMapper]) -> dict[str, set[str]]:
    """Per object type, every native field name the mapping files use (pseudo-fields too)."""
    found: dict[str, set[str]] = {}
    for mapper in mappers:
        object_type = spec(mapper.entity).object_type
        names: set[str] = set()
        for path in mapper.inbound_fields | mapper.outbound_fields:
            native = mapper.native_field(path)
            if native:
                names.add(native)
        # A compiled mapper also lists fields that span several native properties.
        for compiled in getattr(mapper, "fields", ()):
            names.update(getattr(compiled, "native", ()))
        found.setdefault(object_type, set()).update(names)
    return found


def property_names_of(mappers: Iterable[_NamedMapper]) -> dict[str, set[str]]:
    """Per object type, the HubSpot properties mapping files name (pseudo-fields left out)."""
    return {kind: _properties(names) for kind, names in native_names_of(mappers).items()}


def _properties(names: Iterable[str]) -> set[str]:
    """HubSpot property names from native field names (dotted paths, pseudo-fields dropped)."""
    tops = {name.split(".", 1)[0] for name in names if name}
    return tops - {ASSOCIATIONS, LINES, OWNER_EMAIL}


def _native_names(source: PropertyNames | Iterable[_NamedMapper]) -> dict[str, set[str]]:
    if isinstance(source, Mapping):
        result: dict[str, set[str]] = {}
        for key, names in source.items():
            object_type = key if key in (LINE_ITEMS, *OWN_PROPERTIES) else spec(key).object_type
            result.setdefault(str(object_type), set()).update(n for n in names if n)
        return result
    return native_names_of(source)


async def _check_owners(adapter: HubSpotAdapter) -> str:
    """Mappings that name `owner_email` need the Owners API: say now whether it answers."""
    try:
        count = await adapter.owners.reload()
    except HttpConfigurationError as refused:
        if refused.status != 403:
            raise
        return f"owners: WARNING {refused}"
    return f"owners: {count} active owners with an e-mail; owner e-mails are written as their ids"


async def setup(
    adapter: HubSpotAdapter, mappers_or_property_names: PropertyNames | Iterable[_NamedMapper]
) -> list[str]:
    """Creates what is missing; returns one line per object type and property decision."""
    native = _native_names(mappers_or_property_names)
    wanted = {object_type: _properties(names) for object_type, names in native.items()}
    for object_type in OWN_PROPERTIES:
        wanted.setdefault(object_type, set())
    client = adapter.client
    paths = client.paths
    group = adapter.settings.property_group
    lines: list[str] = []
    for object_type in sorted(wanted):
        _, groups = await client.call("GET", paths.property_groups(object_type))
        group_names = {g.get("name") for g in (groups or {}).get("results") or []}
        if group in group_names:
            lines.append(f"{object_type}: property group {group} exists")
        else:
            await client.call(
                "POST",
                paths.property_groups(object_type),
                json={"name": group, "label": adapter.settings.property_group_label,
                      "displayOrder": -1},
            )  # fmt: skip
            lines.append(f"{object_type}: created property group {group}")
        _, existing_body = await client.call("GET", paths.properties(object_type))
        existing: dict[str, Mapping[str, Any]] = {
            str(p.get("name")): p for p in (existing_body or {}).get("results") or []
        }
        own = OWN_PROPERTIES.get(object_type, {})
        for name in sorted(set(own) | wanted[object_type]):
            definition = own.get(name) or CustomProperty(name.replace("_", " ").capitalize())
            current = existing.get(name)
            if current is not None:
                if definition.unique and not current.get("hasUniqueValue"):
                    lines.append(
                        f"{object_type}: WARNING {name} exists but is not unique; HubSpot cannot "
                        "make an existing property unique, so upserts by it will fail — archive "
                        "it and run setup again"
                    )
                else:
                    lines.append(f"{object_type}: property {name} exists")
                continue
            await client.call(
                "POST",
                paths.properties(object_type),
                json={
                    "name": name,
                    "label": definition.label,
                    "groupName": group,
                    "type": definition.type,
                    "fieldType": definition.field_type,
                    "hasUniqueValue": definition.unique,
                    "description": "Created by the ERP connector",
                    "formField": False,
                },
            )
            unique = " (unique)" if definition.unique else ""
            lines.append(f"{object_type}: created property {name}{unique}")
    if any(OWNER_EMAIL in names for names in native.values()):
        lines.append(await _check_owners(adapter))
    return lines
