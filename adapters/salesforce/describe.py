"""The org's sObject `describe`, read as the adapter's native shape (`connector check`).

`GET /services/data/vXX.X/sobjects/{Object}/describe` answers `fields[]` with `name`, `type`,
`createable`, `updateable`, `externalId`, `unique`, `restrictedPicklist` and
`picklistValues[{value, label, active, defaultValue}]` (salesforce.md §7, "Picklists"). Only
fields the integration user can see are listed: a field without field-level security for it is
absent, exactly as a field that does not exist (BEHAVIOR.md, "Setup").

`native_schema` turns that into `connector.native_schema.NativeSchema` for the native shape the
mapping files use: `Owner.Email` is written as `OwnerId` (so it has `OwnerId`'s abilities),
`StageOutcome` is the adapter's read-only `won`/`lost`/`open`, and on lines `ProductCode` is
written as the `PricebookEntryId` it resolves to and `DiscountAmount` as `Discount`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connector.model import Entity
from connector.native_schema import NativeField, NativeSchema

from .lines import DISCOUNT_AMOUNT
from .objects import CONNECTOR_KEY, LINE_OBJECT, OWNER_EMAIL, STAGE_OUTCOME

#: What a read hands the mapper for each describe type (JSON: dates and ids are text).
_PYTHON_TYPES: dict[str, type] = {
    "int": int,
    "double": float,
    "currency": float,
    "percent": float,
    "boolean": bool,
}
_PICKLISTS = frozenset({"picklist", "multipicklist"})
MISSING_HINT = "run `connector salesforce setup` (it prints what to create; --create creates it)"


def native_field(described: Mapping[str, Any]) -> NativeField:
    """One describe `fields[]` entry as a `NativeField`."""
    kind = str(described.get("type") or "string")
    values = None
    if kind in _PICKLISTS:
        values = tuple(
            str(entry["value"])
            for entry in described.get("picklistValues") or []
            if entry.get("active", True) and entry.get("value") is not None
        )
    return NativeField(
        name=str(described["name"]),
        type_label=kind,
        python_type=_PYTHON_TYPES.get(kind, str),
        createable=bool(described.get("createable")),
        updateable=bool(described.get("updateable")),
        values=values,
        restricted=bool(described.get("restrictedPicklist")) and values is not None,
        computed=bool(described.get("calculated")),  # a formula field (DescribeSObjectResult)
    )


def _fields(described: Mapping[str, Any]) -> dict[str, NativeField]:
    return {
        str(entry["name"]): native_field(entry)
        for entry in described.get("fields") or []
        if entry.get("name")
    }


def _as(
    name: str, source: NativeField | None, type_label: str, python_type: type = str
) -> Iterable[tuple[str, NativeField]]:
    """A pseudo-field written as `source` (absent when `source` is: the write would fail)."""
    if source is not None:
        yield (
            name,
            NativeField(
                name,
                type_label,
                python_type=python_type,
                createable=source.createable,
                updateable=source.updateable,
            ),
        )


def adapter_problems(
    sobject: str, described: Mapping[str, Any], read: Iterable[str]
) -> tuple[str, ...]:
    """What the adapter needs whatever the mapping says: every field its queries select, and
    the `Connector_Key__c` it upserts by as an External ID + Unique field."""
    fields = {str(f.get("name", "")).lower(): f for f in described.get("fields") or []}
    problems = []
    lacking = [name for name in read if name.lower() not in fields]
    if lacking:
        problems.append(
            f"{sobject} lacks {', '.join(lacking)}, which the adapter reads (every query of "
            f"{sobject} would fail); {MISSING_HINT}"
        )
    key = fields.get(CONNECTOR_KEY.lower())
    if key is not None and not (key.get("externalId") and key.get("unique")):
        problems.append(
            f"{sobject}.{CONNECTOR_KEY} is not External ID + Unique: the adapter upserts by it; "
            "edit the field and tick both"
        )
    return tuple(problems)


def native_schema(
    entity: Entity,
    described: Mapping[str, Any],
    lines: Mapping[str, Any] | None = None,
    *,
    read: Iterable[str] = (),
) -> NativeSchema:
    """The native shape of `entity` from its sObject's describe (and the lines' for a sale);
    `read` are the fields the adapter's queries select."""
    sobject = str(described.get("name") or "")
    fields = _fields(described)
    owner = fields.get("OwnerId")
    fields.update(_as(OWNER_EMAIL, owner, "email (written as OwnerId)"))
    if entity is Entity.SALE:
        fields[STAGE_OUTCOME] = NativeField(
            STAGE_OUTCOME,
            "the adapter's reading of IsWon/IsClosed",
            python_type=str,
            createable=False,
            updateable=False,
            values=("won", "lost", "open"),
            restricted=True,
        )
    line_schema = None
    if lines is not None:
        line_fields = _fields(lines)
        entry = line_fields.get("PricebookEntryId")
        line_fields.update(_as("ProductCode", entry, "text (written as PricebookEntryId)"))
        line_fields.update(_as(DISCOUNT_AMOUNT, line_fields.get("Discount"), "currency", float))
        line_schema = NativeSchema(
            LINE_OBJECT, line_fields, case_sensitive=False, missing_hint=MISSING_HINT
        )
    return NativeSchema(
        sobject,
        fields,
        case_sensitive=False,
        lines=line_schema,
        missing_hint=MISSING_HINT,
        problems=adapter_problems(sobject, described, read),
    )
