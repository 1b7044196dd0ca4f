"""Properties API routes: properties and property groups per object type (hubspot.md §4).

`hasUniqueValue` can only be set when a property is created, and at most 10 properties per
object type may be unique. Creating an existing property or group is a 409.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, JsonDict, conflict, not_found, validation
from .objecttypes import resolve_type
from .properties import FIELD_TYPES, MAX_UNIQUE_PER_TYPE, PROPERTY_TYPES, PropertyDef, PropertyGroup
from .state import Sandbox
from .web import batch_reply, bool_param, inputs_of, json_object, no_content, reply, sandbox_of

REQUIRED = ("name", "label", "type", "fieldType", "groupName")


def _object_name(request: Request) -> str:
    return resolve_type(request.path_params["object_type"]).name


async def list_properties(request: Request) -> Response:
    sandbox = sandbox_of(request)
    archived = bool_param(request, "archived")
    defs = sandbox.registry.properties[_object_name(request)].values()
    return reply({"results": [p.to_json() for p in defs if p.archived == archived]})


def _property(sandbox: Sandbox, object_name: str, name: str) -> PropertyDef:
    found = sandbox.registry.get(object_name, name)
    if found is None:
        raise not_found(f"Property {name} does not exist", propertyName=[name])
    return found


async def get_property(request: Request) -> Response:
    sandbox = sandbox_of(request)
    name = request.path_params["property_name"]
    return reply(_property(sandbox, _object_name(request), name).to_json())


def _create(sandbox: Sandbox, object_name: str, spec: JsonDict) -> PropertyDef:
    missing = [field for field in REQUIRED if not spec.get(field)]
    if missing:
        raise validation(f"Missing required fields: {', '.join(missing)}", code="REQUIRED_FIELD")
    name = str(spec["name"])
    if sandbox.registry.get(object_name, name) is not None:
        raise conflict(f"Property named '{name}' already exists.", propertyName=[name])
    if spec["type"] not in PROPERTY_TYPES:
        raise validation(f"Unknown property type {spec['type']}", code="INVALID_TYPE")
    if spec["fieldType"] not in FIELD_TYPES:
        raise validation(f"Unknown field type {spec['fieldType']}", code="INVALID_FIELD_TYPE")
    if spec["groupName"] not in sandbox.registry.groups[object_name]:
        raise validation(f"Property group {spec['groupName']} does not exist", code="NO_GROUP")
    options = spec.get("options") or []
    if spec["type"] == "enumeration" and not options:
        raise validation("Enumeration properties need options", code="OPTIONS_REQUIRED")
    unique = bool(spec.get("hasUniqueValue", False))
    if unique and len(sandbox.registry.unique_names(object_name)) >= MAX_UNIQUE_PER_TYPE:
        raise validation(
            f"At most {MAX_UNIQUE_PER_TYPE} unique properties per object type",
            code="TOO_MANY_UNIQUE_PROPERTIES",
        )
    now = sandbox.clock.now_ms()
    created = PropertyDef(
        name=name,
        label=str(spec["label"]),
        type=str(spec["type"]),
        field_type=str(spec["fieldType"]),
        group_name=str(spec["groupName"]),
        description=str(spec.get("description", "")),
        has_unique_value=unique,
        options=list(options),
        display_order=int(spec.get("displayOrder", -1)),
        form_field=bool(spec.get("formField", False)),
        created_ms=now,
        updated_ms=now,
    )
    sandbox.registry.add(object_name, created)
    if unique:
        sandbox.store.reindex(resolve_type(object_name))
    return created


async def create_property(request: Request) -> Response:
    sandbox = sandbox_of(request)
    created = _create(sandbox, _object_name(request), await json_object(request))
    return reply(created.to_json(), 201)


async def update_property(request: Request) -> Response:
    sandbox = sandbox_of(request)
    found = _property(sandbox, _object_name(request), request.path_params["property_name"])
    spec = await json_object(request)
    if "hasUniqueValue" in spec and bool(spec["hasUniqueValue"]) != found.has_unique_value:
        raise validation("hasUniqueValue can only be set when a property is created")
    if found.hubspot_defined and set(spec) - {"label", "description", "displayOrder"}:
        raise validation(f"{found.name} is a HubSpot-defined property; its definition is fixed")
    updates: dict[str, Any] = {
        "label": "label",
        "description": "description",
        "groupName": "group_name",
        "options": "options",
        "displayOrder": "display_order",
        "fieldType": "field_type",
        "formField": "form_field",
    }
    for key, attribute in updates.items():
        if key in spec:
            setattr(found, attribute, spec[key])
    found.updated_ms = sandbox.clock.now_ms()
    return reply(found.to_json())


async def archive_property(request: Request) -> Response:
    sandbox = sandbox_of(request)
    found = _property(sandbox, _object_name(request), request.path_params["property_name"])
    if found.hubspot_defined:
        raise validation(f"{found.name} is a HubSpot-defined property and cannot be archived")
    sandbox.registry.archive(_object_name(request), found)
    return no_content()


async def batch_create_properties(request: Request) -> Response:
    sandbox = sandbox_of(request)
    started = sandbox.clock.now_ms()
    object_name = _object_name(request)
    results: list[JsonDict] = []
    errors: list[JsonDict] = []
    for spec in inputs_of(await json_object(request)):
        try:
            results.append(_create(sandbox, object_name, spec).to_json())
        except ApiError as failed:
            errors.append(failed.batch_entry(None))
    return batch_reply(sandbox, results, errors, started, ok_status=201)


async def batch_read_properties(request: Request) -> Response:
    sandbox = sandbox_of(request)
    started = sandbox.clock.now_ms()
    object_name = _object_name(request)
    results: list[JsonDict] = []
    errors: list[JsonDict] = []
    for item in inputs_of(await json_object(request)):
        try:
            results.append(_property(sandbox, object_name, str(item.get("name"))).to_json())
        except ApiError as failed:
            errors.append(failed.batch_entry(None))
    return batch_reply(sandbox, results, errors, started)


async def batch_archive_properties(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_name = _object_name(request)
    for item in inputs_of(await json_object(request)):
        found = sandbox.registry.get(object_name, str(item.get("name")))
        if found is not None and not found.hubspot_defined:
            sandbox.registry.archive(object_name, found)
    return no_content()


async def list_groups(request: Request) -> Response:
    sandbox = sandbox_of(request)
    groups = sandbox.registry.groups[_object_name(request)].values()
    return reply({"results": [g.to_json() for g in groups if not g.archived]})


def _group(sandbox: Sandbox, object_name: str, name: str) -> PropertyGroup:
    found = sandbox.registry.groups[object_name].get(name)
    if found is None or found.archived:
        raise not_found(f"Property group {name} does not exist")
    return found


async def get_group(request: Request) -> Response:
    sandbox = sandbox_of(request)
    group = _group(sandbox, _object_name(request), request.path_params["group_name"])
    return reply(group.to_json())


async def create_group(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_name = _object_name(request)
    spec = await json_object(request)
    if not spec.get("name") or not spec.get("label"):
        raise validation("Missing required fields: name, label", code="REQUIRED_FIELD")
    name = str(spec["name"])
    existing = sandbox.registry.groups[object_name].get(name)
    if existing is not None and not existing.archived:
        raise conflict(f"Property group named '{name}' already exists.")
    group = PropertyGroup(name, str(spec["label"]), int(spec.get("displayOrder", -1)))
    sandbox.registry.groups[object_name][name] = group
    return reply(group.to_json(), 201)


async def update_group(request: Request) -> Response:
    sandbox = sandbox_of(request)
    group = _group(sandbox, _object_name(request), request.path_params["group_name"])
    spec = await json_object(request)
    group.label = str(spec.get("label", group.label))
    group.display_order = int(spec.get("displayOrder", group.display_order))
    return reply(group.to_json())


async def archive_group(request: Request) -> Response:
    sandbox = sandbox_of(request)
    _group(sandbox, _object_name(request), request.path_params["group_name"]).archived = True
    return no_content()
