"""`connector salesforce setup`: check through `describe` that the org has what the mapping needs.

For each object the adapter reads or writes it asks `GET /sobjects/{Object}/describe` and
reports, for every field the adapter reads and every field the mapping files write: missing
fields, fields the integration user cannot write, and key fields that are not External ID +
Unique, each with exactly what to create or change. A missing custom field comes with the
Tooling API `CustomField` body that creates it (`Finding.create`), which `--create` sends
(tooling.py). Describe lists only the fields the integration user can see, so "missing" also
covers a field that exists without field-level security for that user (BEHAVIOR.md, "Setup").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.mapping.contract import EntityMapper
from connector.model import Entity

from .adapter import SalesforceAdapter
from .lines import DISCOUNT_AMOUNT
from .objects import CONNECTOR_KEY, LINE_FIELDS, LINE_OBJECT, LINES, STAGE_OUTCOME, spec

#: Fields that must be External ID + Unique: the upsert key and the ERP's numbers.
KEY_FIELDS = {
    "Account": (CONNECTOR_KEY, "ERP_Customer_No__c"),
    "Contact": (CONNECTOR_KEY, "ERP_Contact_No__c"),
    "Opportunity": (CONNECTOR_KEY, "ERP_Order_No__c"),
}
_PSEUDO = {LINES, STAGE_OUTCOME, DISCOUNT_AMOUNT}


def _text(label: str, length: int, *, key: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"label": label, "type": "Text", "length": length}
    if key:
        metadata.update({"externalId": True, "unique": True, "caseSensitive": False})
    return metadata


def _picklist(label: str, values: Iterable[str]) -> dict[str, Any]:
    return {
        "label": label,
        "type": "Picklist",
        "valueSet": {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [{"fullName": v, "label": v, "default": False} for v in values],
            },
        },
    }


#: The Tooling API `Metadata` (CustomFieldMetadata) of the custom fields the shipped mapping
#: files and the adapter use. A custom field a user's mapping adds is proposed as Text(255).
CUSTOM_FIELDS: dict[str, dict[str, Any]] = {
    **{
        f"{sobject}.{CONNECTOR_KEY}": _text("Connector Key", 80, key=True) for sobject in KEY_FIELDS
    },
    "Account.ERP_Customer_No__c": _text("ERP Customer No", 80, key=True),
    "Contact.ERP_Contact_No__c": _text("ERP Contact No", 80, key=True),
    "Opportunity.ERP_Order_No__c": _text("ERP Order No", 80, key=True),
    "Account.ERP_Customer_Status__c": _picklist(
        "ERP Customer Status", ("active", "blocked", "inactive")
    ),
    "Account.ERP_Lifetime_Revenue__c": {
        "label": "ERP Lifetime Revenue",
        "type": "Currency",
        "precision": 18,
        "scale": 2,
    },
    "Account.ERP_Last_Order_Date__c": {"label": "ERP Last Order Date", "type": "Date"},
    "Account.ERP_Open_Orders__c": {
        "label": "ERP Open Orders",
        "type": "Number",
        "precision": 18,
        "scale": 0,
    },
    "Opportunity.ERP_Order_Status__c": _text("ERP Order Status", 40),
}


@dataclass(frozen=True)
class Finding:
    sobject: str
    field: str
    problem: str
    fix: str
    #: The Tooling API body that creates the missing field (None: nothing to create).
    create: Mapping[str, Any] | None = None
    #: The field exists but the integration user may not edit it: `--create` grants Edit.
    grant: bool = False

    def __str__(self) -> str:
        return f"{self.sobject}.{self.field}: {self.problem} — {self.fix}"


def _plain(name: str) -> str | None:
    """The sObject field behind a native name (`Owner.Email` → `OwnerId`); None for pseudo."""
    if name in _PSEUDO:
        return None
    if "." in name:
        return f"{name.split('.', 1)[0]}Id"
    return name


def wanted_fields(
    adapter: SalesforceAdapter, mappers: Iterable[EntityMapper]
) -> dict[str, tuple[set[str], set[str]]]:
    """Per sObject: (fields read, fields written)."""
    wanted: dict[str, tuple[set[str], set[str]]] = {}
    for mapper in mappers:
        sobject = spec(mapper.entity).sobject
        read, written = wanted.setdefault(sobject, (set(), set()))
        read.update(f for n in adapter.fields(mapper.entity) if (f := _plain(n)))
        for path in mapper.outbound_fields:
            native = mapper.native_field(path)
            if native and (field := _plain(native)):
                written.add(field)
        written.add(CONNECTOR_KEY)
        if mapper.entity is Entity.SALE:
            line_read, line_written = wanted.setdefault(LINE_OBJECT, (set(), set()))
            line_read.update(LINE_FIELDS)
            line_written.update({"OpportunityId", "PricebookEntryId", "Quantity", "UnitPrice"})
    return wanted


def creation(sobject: str, name: str) -> dict[str, Any] | None:
    """The Tooling API `CustomField` body for a missing custom field (None: a standard one)."""
    if not name.endswith("__c"):
        return None
    metadata = CUSTOM_FIELDS.get(f"{sobject}.{name}")
    if metadata is None:
        metadata = _text(name[:-3].replace("_", " "), 255)
    return {"FullName": f"{sobject}.{name}", "Metadata": metadata}


def describe_kind(metadata: Mapping[str, Any]) -> str:
    """`Text(80), External ID, Unique` — what Setup → Object Manager calls the field."""
    kind = str(metadata.get("type"))
    if kind == "Text":
        kind = f"Text({metadata.get('length')})"
    elif kind in ("Number", "Currency"):
        digits = int(metadata.get("precision", 18)) - int(metadata.get("scale", 0))
        kind = f"{kind}({digits}, {metadata.get('scale', 0)})"
    elif kind == "Picklist":
        values = [v["fullName"] for v in metadata["valueSet"]["valueSetDefinition"]["value"]]
        kind = f"Picklist, restricted, values {', '.join(values)}"
    flags = [flag for flag, key in (("External ID", "externalId"), ("Unique", "unique")) if
             metadata.get(key)]  # fmt: skip
    return ", ".join([kind, *flags])


def findings_for(
    sobject: str, described: Mapping[str, Any], read: set[str], written: set[str]
) -> list[Finding]:
    fields = {f["name"].lower(): f for f in described.get("fields") or []}
    found: list[Finding] = []
    for name in sorted(read | written):
        field = fields.get(name.lower())
        if field is None:
            body = creation(sobject, name)
            if body is None:
                fix = "a standard field: check its name, the API version and the org's edition"
            else:
                fix = (
                    f"create it: {body['Metadata']['label']!r}, "
                    f"{describe_kind(body['Metadata'])}, and give the integration user Read and "
                    "Edit in its field-level security (or it exists without that access)"
                )
            found.append(Finding(sobject, name, "missing", fix, create=body))
            continue
        if name in written and not (field.get("createable") or field.get("updateable")):
            found.append(
                Finding(
                    sobject,
                    name,
                    "not writable by the integration user",
                    "grant Edit in its field-level security",
                    grant=name.endswith("__c"),
                )
            )
        if name in KEY_FIELDS.get(sobject, ()) and not (
            field.get("externalId") and field.get("unique")
        ):
            found.append(
                Finding(
                    sobject,
                    name,
                    "not External ID + Unique",
                    "edit the field: tick External ID and Unique",
                )
            )
    return found


async def check(adapter: SalesforceAdapter, mappers: Iterable[EntityMapper]) -> list[Finding]:
    findings: list[Finding] = []
    for sobject, (read, written) in sorted(wanted_fields(adapter, mappers).items()):
        described = await adapter.client.call("GET", f"/sobjects/{sobject}/describe")
        findings += findings_for(sobject, described or {}, read, written)
    return findings
