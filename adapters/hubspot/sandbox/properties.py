"""Property definitions per object type (the properties API's data) and value coercion.

The sandbox stores every value as a string, as HubSpot returns them (hubspot.md §1.3): numbers
as "17", booleans "true"/"false", multi-select "a;b". Date and datetime values are kept as epoch
milliseconds and rendered as ISO text or epoch ms by the `date_values` switch, because the
reference shows both forms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .calculated import CALCULATED
from .clock import iso_from_ms, ms_from_iso
from .errors import ApiError, JsonDict
from .objecttypes import OBJECT_TYPES
from .options import COMPANY_INDUSTRIES, COMPANY_TYPES, DEAL_STAGES, LIFECYCLE_STAGES, PIPELINES
from .values import normalize_number, normalize_string

PROPERTY_TYPES = frozenset(
    {"string", "number", "date", "datetime", "enumeration", "bool", "phone_number"}
)
FIELD_TYPES = frozenset(
    {
        "text",
        "textarea",
        "number",
        "select",
        "radio",
        "checkbox",
        "booleancheckbox",
        "date",
        "file",
        "html",
        "phonenumber",
        "calculation_equation",
    }
)
MAX_UNIQUE_PER_TYPE = 10  # hubspot.md §4
SYSTEM_TIMESTAMPS = frozenset({"createdate", "hs_lastmodifieddate", "lastmodifieddate"})
DAY_MS = 86_400_000


@dataclass
class PropertyDef:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    has_unique_value: bool = False
    hubspot_defined: bool = False
    read_only: bool = False
    #: HubSpot computes the value (`calculated.py`); such a property is read-only too.
    calculated: bool = False
    options: list[JsonDict] = field(default_factory=list)
    #: The options are another object's records (owners), not a list kept on the property:
    #: `Sandbox` refreshes `options` whenever that list changes.
    external_options: bool = False
    referenced_object_type: str | None = None
    display_order: int = -1
    form_field: bool = False
    created_ms: int = 0
    updated_ms: int = 0
    archived: bool = False

    def to_json(self) -> JsonDict:
        body: JsonDict = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "description": self.description,
            "hasUniqueValue": self.has_unique_value,
            "hubspotDefined": self.hubspot_defined,
            "calculated": self.calculated,
            "externalOptions": self.external_options,
            "formField": self.form_field,
            "displayOrder": self.display_order,
            "options": self.options,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "createdAt": iso_from_ms(self.created_ms),
            "updatedAt": iso_from_ms(self.updated_ms),
            "archived": self.archived,
        }
        if self.referenced_object_type is not None:
            body["referencedObjectType"] = self.referenced_object_type
        return body


@dataclass
class PropertyGroup:
    name: str
    label: str
    display_order: int = -1
    archived: bool = False

    def to_json(self) -> JsonDict:
        return {
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": self.archived,
        }


_S, _N, _D, _B, _E = "string", "number", "datetime", "bool", "enumeration"
#: The options of the built-in enumerations the sandbox enforces, by (object, property).
_BUILTIN_OPTIONS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("companies", "industry"): COMPANY_INDUSTRIES,
    ("companies", "type"): COMPANY_TYPES,
    ("companies", "lifecyclestage"): LIFECYCLE_STAGES,
    ("contacts", "lifecyclestage"): LIFECYCLE_STAGES,
    ("deals", "dealstage"): DEAL_STAGES,
    ("deals", "pipeline"): PIPELINES,
}
#: Enumerations whose options live in the pipeline settings (BEHAVIOR.md, "Enumerations").
_PIPELINE_OPTIONS = frozenset({"dealstage", "pipeline"})
#: The owner property: an enumeration whose options are the portal's owners (the Owners API),
#: on every object type that has an owner.
OWNER_PROPERTY = "hubspot_owner_id"
OWNER_REFERENCE = "OWNER"
# fmt: off
_BUILTIN: dict[str, list[tuple[str, str]]] = {
    "contacts": [
        ("email", _S), ("firstname", _S), ("lastname", _S), ("phone", _S), ("mobilephone", _S),
        ("jobtitle", _S), ("company", _S), ("website", _S), ("address", _S), ("city", _S),
        ("state", _S), ("zip", _S), ("country", _S), ("hs_language", _S),
        ("lifecyclestage", _E), ("associatedcompanyid", _N), (OWNER_PROPERTY, _E),
    ],
    "companies": [
        ("name", _S), ("domain", _S), ("website", _S), ("industry", _E), ("phone", _S),
        ("numberofemployees", _N), ("annualrevenue", _N), ("address", _S), ("address2", _S),
        ("city", _S), ("state", _S), ("zip", _S), ("country", _S), ("description", _S),
        ("type", _E), ("lifecyclestage", _E), (OWNER_PROPERTY, _E),
    ],
    "deals": [
        ("dealname", _S), ("amount", _N), ("closedate", _D), ("pipeline", _E),
        ("dealstage", _E), ("deal_currency_code", _S), ("description", _S),
        ("hs_is_closed_won", _B), (OWNER_PROPERTY, _E),
    ],
    "line_items": [
        ("name", _S), ("quantity", _N), ("price", _N), ("amount", _N), ("hs_sku", _S),
        ("hs_product_id", _N), ("description", _S), ("discount", _N),
        ("hs_discount_percentage", _N), ("hs_pre_discount_amount", _N), ("hs_total_discount", _N),
    ],
    "products": [("name", _S), ("description", _S), ("price", _N), ("hs_sku", _S)],
}
# fmt: on
_FIELD_FOR_TYPE = {
    "string": "text",
    "number": "number",
    "datetime": "date",
    "date": "date",
    "bool": "booleancheckbox",
    "enumeration": "select",
    "phone_number": "phonenumber",
}


def _options(pairs: tuple[tuple[str, str], ...]) -> list[JsonDict]:
    return [
        {"value": value, "label": label, "displayOrder": order, "hidden": False}
        for order, (value, label) in enumerate(pairs)
    ]


def _info_group(object_name: str) -> str:
    return {
        "contacts": "contactinformation",
        "companies": "companyinformation",
        "deals": "dealinformation",
        "line_items": "lineiteminformation",
        "products": "productinformation",
    }[object_name]


class PropertyRegistry:
    """Properties and property groups for every object type."""

    def __init__(self, now_ms: int) -> None:
        self.properties: dict[str, dict[str, PropertyDef]] = {}
        self.groups: dict[str, dict[str, PropertyGroup]] = {}
        self._unique: dict[str, list[str]] = {}  # asked on every write, so cached
        self.reset(now_ms)

    def reset(self, now_ms: int) -> None:
        """Only the built-in properties and groups remain."""
        self.properties.clear()
        self.groups.clear()
        self._unique.clear()
        for object_type in OBJECT_TYPES:
            group = _info_group(object_type.name)
            self.groups[object_type.name] = {group: PropertyGroup(group, "Information")}
            defs: dict[str, PropertyDef] = {}
            builtin = [*_BUILTIN[object_type.name], ("hs_object_id", _N), ("createdate", _D)]
            builtin.append((object_type.modified_property, _D))
            computed = CALCULATED.get(object_type.name, frozenset())
            for name, kind in builtin:
                owner = name == OWNER_PROPERTY
                defs[name] = PropertyDef(
                    name=name,
                    label=name,
                    type=kind,
                    field_type=_FIELD_FOR_TYPE[kind],
                    group_name=group,
                    hubspot_defined=True,
                    read_only=name in SYSTEM_TIMESTAMPS
                    or name == "hs_object_id"
                    or name in computed,
                    calculated=name in computed,
                    options=_options(_BUILTIN_OPTIONS.get((object_type.name, name), ())),
                    external_options=owner or name in _PIPELINE_OPTIONS,
                    referenced_object_type=OWNER_REFERENCE if owner else None,
                    created_ms=now_ms,
                    updated_ms=now_ms,
                )
            self.properties[object_type.name] = defs

    def set_external_options(self, reference: str, options: list[JsonDict]) -> None:
        """Makes `options` the allowed values of every property whose options are `reference`
        records (the owners), as HubSpot's owner properties follow the Owners API."""
        for defs in self.properties.values():
            for definition in defs.values():
                if definition.referenced_object_type == reference:
                    definition.options = list(options)

    def get(self, object_name: str, name: str) -> PropertyDef | None:
        found = self.properties[object_name].get(name)
        return None if found is None or found.archived else found

    def active(self, object_name: str) -> list[PropertyDef]:
        return [p for p in self.properties[object_name].values() if not p.archived]

    def unique_names(self, object_name: str) -> list[str]:
        found = self._unique.get(object_name)
        if found is None:
            found = [p.name for p in self.active(object_name) if p.has_unique_value]
            self._unique[object_name] = found
        return found

    def add(self, object_name: str, definition: PropertyDef) -> None:
        self.properties[object_name][definition.name] = definition
        self._unique.pop(object_name, None)

    def archive(self, object_name: str, definition: PropertyDef) -> None:
        definition.archived = True
        self._unique.pop(object_name, None)


def coerce_input(
    defn: PropertyDef, raw: Any, *, object_name: str = "", normalize: bool = False
) -> str:
    """Turn a written value into its stored string form, or raise a per-property error.

    With `normalize`, the stored form is the one a portal shows (`values.py`)."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, int | float | Decimal):
        text = str(raw)
    elif isinstance(raw, str):
        text = raw
    else:
        raise _invalid(defn, raw, "INVALID_VALUE", "is not a valid value")
    if text == "":
        return ""  # "" clears a value (hubspot.md §1.2)
    if defn.type == "number":
        try:
            Decimal(text)
        except InvalidOperation:
            raise _invalid(defn, text, "INVALID_DECIMAL", "was not a valid number") from None
        return normalize_number(text) if normalize else text.strip()
    if defn.type == "bool":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise _invalid(defn, text, "INVALID_BOOLEAN", "was not a valid boolean")
        return lowered
    if defn.type in ("date", "datetime"):
        epoch = parse_epoch_ms(text)
        if epoch is None:
            raise _invalid(defn, text, "INVALID_DATE", "was not a valid date")
        if defn.type == "date" and epoch % DAY_MS != 0:
            # Date properties hold midnight UTC; other times are rejected.
            raise _invalid(defn, text, "INVALID_DATE", "is not midnight UTC")
        return str(epoch)
    if defn.type == "enumeration" and defn.external_options:
        # One record id (an owner's), never a ";" list; with no owners nothing is allowed.
        allowed_ids = [str(o.get("value")) for o in defn.options]
        if text not in allowed_ids:
            raise _invalid_option(defn, text, allowed_ids)
    elif defn.type == "enumeration" and defn.options:
        allowed = {str(o.get("value")) for o in defn.options}
        if any(part not in allowed for part in text.split(";")):
            raise _invalid(defn, text, "INVALID_OPTION", "was not one of the allowed options")
    elif normalize and defn.type in ("string", "phone_number"):
        return normalize_string(object_name, defn.name, text)
    return text


def parse_epoch_ms(text: str) -> int | None:
    stripped = text.strip()
    if stripped.lstrip("-").isdigit():
        return int(stripped)
    try:
        return ms_from_iso(stripped)
    except ValueError:
        return None


def render_value(
    defn: PropertyDef | None, stored: str, date_values: str, *, midnight_datetimes: bool = False
) -> str:
    """A stored value as the API returns it; with `midnight_datetimes` a date property shows as
    the midnight-UTC datetime it holds (`values.py`), not as the day alone."""
    if defn is None or stored == "" or defn.type not in ("date", "datetime"):
        return stored
    if date_values == "epoch_ms":
        return stored
    epoch = int(stored)
    if defn.type == "date" and not midnight_datetimes:
        return datetime.fromtimestamp(epoch / 1000, tz=UTC).strftime("%Y-%m-%d")
    return iso_from_ms(epoch)


def _invalid_option(defn: PropertyDef, raw: str, allowed: list[str]) -> ApiError:
    """HubSpot's refusal of a value outside an enumeration's options, in its documented words:
    "<value> was not one of the allowed options: [...]" (the owners' ids, for owner ids)."""
    message = f"{raw} was not one of the allowed options: [{', '.join(allowed)}]"
    return ApiError(
        400,
        "VALIDATION_ERROR",
        f"Property values were not valid: {message}",
        errors=[
            {"message": message, "code": "INVALID_OPTION", "context": {"propertyName": [defn.name]}}
        ],
    )


def _invalid(defn: PropertyDef, raw: Any, code: str, what: str) -> ApiError:
    message = f'Property values were not valid: "{raw}" {what} for property "{defn.name}"'
    return ApiError(
        400,
        "VALIDATION_ERROR",
        message,
        errors=[{"message": message, "code": code, "context": {"propertyName": [defn.name]}}],
    )
