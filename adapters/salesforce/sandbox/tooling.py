"""The Tooling API's CustomField create, and field-level security, as the sandbox org has them.

`POST /services/data/vXX.X/tooling/sobjects/CustomField/` with `{"FullName": "Account.X__c",
"Metadata": {...}}` (Tooling API object reference, CustomField: `FullName` Create, `Metadata`
CustomFieldMetadata Create — label, type, length, precision, scale, externalId, unique,
valueSet…) answers 201 `{"id": "00N…", "success": true, "errors": [], "warnings": [],
"infos": []}`.

A field created this way is visible to nobody: no profile or permission set has field-level
security on it. Until a `FieldPermissions` row (`ParentId` a PermissionSet, `SobjectType`,
`Field` = `Object.Field__c`, `PermissionsRead`, `PermissionsEdit`; object reference,
FieldPermissions: "To grant a user access to a field, associate a FieldPermissions record with a
PermissionSet that's assigned to a user") grants it to a permission set assigned to the
integration user (`PermissionSetAssignment`), describe does not list it, SOQL naming it is
`INVALID_FIELD` and a write naming it is refused — as in an org. Read without Edit makes it
read-only. The three objects are ordinary sObjects here (created through `POST /sobjects/…`).

Not documented where we looked, so chosen and marked in BEHAVIOR.md: the error codes of a
refused create (a second create of an existing field answers `DUPLICATE_VALUE`, as a Tooling
create of an existing name was seen to answer in django-salesforce's pull request #57; a user
without "Customize Application" gets 403 `INSUFFICIENT_ACCESS_OR_READONLY`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.salesforce.ids import checksum

from .org import ApiFault, Org, Row
from .schema import Field, SObject

CUSTOM_FIELD_PREFIX = "00N"
_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*__c$")
#: Tooling `Metadata.type` → the describe type the field then has.
_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Date": "date",
    "DateTime": "datetime",
    "Checkbox": "boolean",
    "Picklist": "picklist",
}
_KEYABLE = frozenset({"Text", "Number", "Email"})
PERMISSION_OBJECTS = ("PermissionSet", "PermissionSetAssignment", "FieldPermissions")


def _missing(name: str) -> ApiFault:
    return ApiFault(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name])


def _refused(status: int, code: str, message: str, fields: list[str] | None = None) -> ApiFault:
    return ApiFault(status, code, message, fields)


@dataclass
class Created:
    id: str
    sobject: str
    spec: Field


@dataclass
class Tooling:
    """Custom fields created through the Tooling API, and who may see them."""

    org: Org
    integration_user_id: str = ""
    #: Whether the integration user has "Customize Application" (and may manage permissions).
    customize: bool = True
    created: dict[str, Created] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        for spec in _permission_objects():
            self.org.schema[spec.name] = spec
            self.org.rows[spec.name] = {}
        self.org.listeners.append(self._written)

    # -- create -------------------------------------------------------------------------------

    def create_field(self, body: Any) -> Created:
        if not self.customize:
            raise _refused(403, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights")
        if not isinstance(body, Mapping):
            raise _refused(400, "JSON_PARSER_ERROR", "Expected a JSON object")
        full_name = body.get("FullName")
        metadata = body.get("Metadata")
        if not isinstance(full_name, str) or "." not in full_name:
            raise _missing("FullName")
        if not isinstance(metadata, Mapping):
            raise _missing("Metadata")
        object_name, _, name = full_name.partition(".")
        sobject = self._object(object_name)
        if not _NAME.match(name) or len(name) > 43:
            raise _refused(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"Invalid field name {name!r}: a custom field's name ends in __c, starts with a "
                "letter, has at most 40 characters before __c and no double underscores",
                ["FullName"],
            )
        if sobject.field(name) is not None or any(
            c.sobject == sobject.name and c.spec.name.lower() == name.lower()
            for c in self.created.values()
        ):
            raise _refused(
                400,
                "DUPLICATE_VALUE",
                "duplicate value found: <unknown> duplicates value on record with id: <unknown>",
            )
        spec = _field_from(name, metadata)
        created = Created(self._new_id(), sobject.name, spec)
        self.created[created.id] = created
        self._apply()
        return created

    def _object(self, name: str) -> SObject:
        for candidate in self.org.schema.values():
            if candidate.name.lower() == name.lower() and candidate.name not in PERMISSION_OBJECTS:
                return candidate
        raise _refused(
            400, "INVALID_TYPE", f"sObject type '{name}' is not supported.", ["FullName"]
        )

    def _new_id(self) -> str:
        id15 = f"{CUSTOM_FIELD_PREFIX}Rb{next(self._ids):010d}"[:15]
        return id15 + checksum(id15)

    # -- field-level security ---------------------------------------------------------------------

    def _written(self, sobject: SObject, row: Row) -> None:
        if sobject.name in ("FieldPermissions", "PermissionSetAssignment"):
            self._apply()

    def _granted(self) -> dict[str, bool]:
        """`Object.Field` → whether the integration user may edit it (present: may read)."""
        assigned = {
            row["PermissionSetId"]
            for row in self.org.live("PermissionSetAssignment")
            if row.get("AssigneeId") == self.integration_user_id
        }
        granted: dict[str, bool] = {}
        for row in self.org.live("FieldPermissions"):
            if row.get("ParentId") in assigned and row.get("PermissionsRead"):
                key = str(row.get("Field") or "").lower()
                granted[key] = granted.get(key, False) or bool(row.get("PermissionsEdit"))
        return granted

    def _apply(self) -> None:
        """Show (or hide) each created field as its field-level security says."""
        granted = self._granted()
        for created in self.created.values():
            sobject = self.org.schema[created.sobject]
            key = f"{created.sobject}.{created.spec.name}".lower()
            if key in granted:
                spec = _with_edit(created.spec, granted[key])
                if sobject.fields.get(spec.name) != spec:
                    sobject.add(spec)
                    for row in self.org.rows[sobject.name].values():
                        row.setdefault(spec.name, None)
            elif created.spec.name in sobject.fields:
                del sobject.fields[created.spec.name]
                sobject.__post_init__()


def _with_edit(spec: Field, edit: bool) -> Field:
    return Field(**{**spec.__dict__, "writable": edit})


def _number(metadata: Mapping[str, Any], key: str, default: int) -> int:
    value = metadata.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise _refused(400, "FIELD_INTEGRITY_EXCEPTION", f"{key}: not a number: {value!r}", [key])
    return int(value)


def _field_from(name: str, metadata: Mapping[str, Any]) -> Field:
    """The field a CustomFieldMetadata describes, checked as the Metadata API would."""
    kind = metadata.get("type")
    if not metadata.get("label"):
        raise _refused(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [label]")
    if kind not in _TYPES:
        known = ", ".join(_TYPES)
        raise _refused(
            400, "FIELD_INTEGRITY_EXCEPTION", f"type: {kind!r} is not one of {known}", ["type"]
        )
    external_id = bool(metadata.get("externalId"))
    unique = bool(metadata.get("unique"))
    if (external_id or unique) and kind not in _KEYABLE:
        raise _refused(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            f"External ID and Unique apply to Text, Number and Email fields, not {kind}",
            ["externalId"],
        )
    length = None
    scale = 2
    values: tuple[str, ...] = ()
    restricted = False
    if kind == "Text":
        length = _number(metadata, "length", 0)
        if not 1 <= length <= 255:
            raise _refused(
                400, "FIELD_INTEGRITY_EXCEPTION", "length: a Text field holds 1 to 255", ["length"]
            )
    elif kind in ("Number", "Currency", "Percent"):
        precision = _number(metadata, "precision", 18)
        scale = _number(metadata, "scale", 0)
        if not 1 <= precision <= 18 or scale > precision:
            raise _refused(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "precision is 1 to 18 and scale at most the precision",
                ["precision"],
            )
    elif kind == "LongTextArea":
        length = _number(metadata, "length", 32768)
    elif kind == "TextArea":
        length = 255
    elif kind == "Picklist":
        values, restricted = _picklist(metadata)
    return Field(
        name,
        _TYPES[kind],
        length,
        required=bool(metadata.get("required")),
        external_id=external_id,
        unique=unique,
        picklist=values,
        restricted=restricted,
        scale=scale,
    )


def _picklist(metadata: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    value_set = metadata.get("valueSet")
    definition = value_set.get("valueSetDefinition") if isinstance(value_set, Mapping) else None
    entries = definition.get("value") if isinstance(definition, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise _refused(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            "valueSet: a Picklist needs valueSet.valueSetDefinition.value",
            ["valueSet"],
        )
    names = tuple(str(e.get("fullName")) for e in entries if isinstance(e, Mapping))
    assert isinstance(value_set, Mapping)
    return names, bool(value_set.get("restricted"))


def _permission_objects() -> list[SObject]:
    def system(name: str, prefix: str, specs: list[Field]) -> SObject:
        base = [
            Field("Id", "id", writable=False),
            Field("IsDeleted", "boolean", writable=False),
            Field("CreatedDate", "datetime", writable=False),
            Field("LastModifiedDate", "datetime", writable=False),
            Field("SystemModstamp", "datetime", writable=False),
            Field("CreatedById", "reference", writable=False, reference_to="User"),
            Field("LastModifiedById", "reference", writable=False, reference_to="User"),
        ]
        return SObject(name, prefix, {spec.name: spec for spec in [*base, *specs]})

    return [
        system(
            "PermissionSet",
            "0PS",
            [
                Field("Name", "string", 80, required=True, unique=True),
                Field("Label", "string", 80, required=True),
            ],
        ),
        system(
            "PermissionSetAssignment",
            "0Pa",
            [
                Field("AssigneeId", "reference", required=True, reference_to="User"),
                Field("PermissionSetId", "reference", required=True, reference_to="PermissionSet"),
            ],
        ),
        system(
            "FieldPermissions",
            "01k",
            [
                Field(
                    "ParentId",
                    "reference",
                    required=True,
                    reference_to="PermissionSet",
                    relationship="Parent",
                ),
                Field("SobjectType", "string", 80, required=True),
                Field("Field", "string", 255, required=True),
                Field("PermissionsRead", "boolean"),
                Field("PermissionsEdit", "boolean"),
            ],
        ),
    ]


def strip_custom_fields(org: Org) -> None:
    """A fresh org: the connector's custom fields (`…__c`) are not there yet."""
    for sobject in org.schema.values():
        for name in [n for n in sobject.fields if n.endswith("__c")]:
            del sobject.fields[name]
        sobject.__post_init__()


async def create_custom_field(request: Request, sandbox: Any, user: str) -> Response:
    """`POST …/tooling/sobjects/CustomField/` (through `rest.api`: session, limits, faults)."""
    from .rest import _json

    tooling: Tooling = sandbox.tooling
    created = tooling.create_field(await _json(request))
    return JSONResponse(
        {"id": created.id, "success": True, "errors": [], "warnings": [], "infos": []},
        status_code=201,
    )
