"""The CRM object types the sandbox serves, by every name the API accepts for them.

Names, type ids, default properties and create requirements come from hubspot.md §1.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ApiError


@dataclass(frozen=True)
class ObjectType:
    name: str  # plural path name, e.g. "companies"
    type_id: str  # e.g. "0-2"
    singular: str  # e.g. "company": webhook subscription types and association labels
    modified_property: str  # "lastmodifieddate" for contacts, "hs_lastmodifieddate" otherwise
    default_properties: tuple[str, ...]
    # Each inner tuple is "at least one of these"; the docs' create requirements.
    required_on_create: tuple[tuple[str, ...], ...] = ()
    searchable_text: tuple[str, ...] = ()


OBJECT_TYPES: tuple[ObjectType, ...] = (
    ObjectType(
        "contacts",
        "0-1",
        "contact",
        "lastmodifieddate",
        ("firstname", "lastname", "email", "lastmodifieddate", "hs_object_id", "createdate"),
        searchable_text=("firstname", "lastname", "email", "phone", "company"),
    ),
    ObjectType(
        "companies",
        "0-2",
        "company",
        "hs_lastmodifieddate",
        ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"),
        required_on_create=(("domain", "name"),),
        searchable_text=("name", "domain", "website", "phone"),
    ),
    ObjectType(
        "deals",
        "0-3",
        "deal",
        "hs_lastmodifieddate",
        (
            "dealname",
            "amount",
            "closedate",
            "pipeline",
            "dealstage",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        ),
        required_on_create=(("dealname",), ("dealstage",), ("pipeline",)),
        searchable_text=("dealname",),
    ),
    ObjectType(
        "line_items",
        "0-8",
        "line_item",
        "hs_lastmodifieddate",
        ("quantity", "amount", "price", "createdate", "hs_lastmodifieddate", "hs_object_id"),
        searchable_text=("name", "hs_sku"),
    ),
    ObjectType(
        "products",
        "0-7",
        "product",
        "hs_lastmodifieddate",
        ("name", "description", "price", "createdate", "hs_lastmodifieddate", "hs_object_id"),
        searchable_text=("name", "hs_sku", "description"),
    ),
)

_BY_ALIAS: dict[str, ObjectType] = {}
for _t in OBJECT_TYPES:
    for _alias in (_t.name, _t.type_id, _t.singular, _t.singular.upper(), _t.name.upper()):
        _BY_ALIAS[_alias] = _t
_BY_ALIAS["lineitem"] = _BY_ALIAS["lineitems"] = _BY_ALIAS["line_items"]


def resolve_type(segment: str) -> ObjectType:
    """The object type a path segment names (plural, singular or `0-n`), or 400."""
    found = _BY_ALIAS.get(segment) or _BY_ALIAS.get(segment.lower())
    if found is None:
        raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {segment}")
    return found
