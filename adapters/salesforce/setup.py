"""`connector salesforce setup`: check through `describe` that the org has what the mapping needs.

For each object the adapter reads or writes it asks `GET /sobjects/{Object}/describe` and
reports, for every field the adapter reads and every field the mapping files write: missing
fields, fields the integration user cannot write, and key fields that are not External ID +
Unique, each with what to create in Setup → Object Manager. Nothing is changed in the org
(creating fields through the Tooling API is not built).
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


@dataclass(frozen=True)
class Finding:
    sobject: str
    field: str
    problem: str
    fix: str

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


def findings_for(
    sobject: str, described: Mapping[str, Any], read: set[str], written: set[str]
) -> list[Finding]:
    fields = {f["name"].lower(): f for f in described.get("fields") or []}
    found: list[Finding] = []
    for name in sorted(read | written):
        field = fields.get(name.lower())
        if field is None:
            kind = (
                "Text(80), External ID, Unique"
                if name in KEY_FIELDS.get(sobject, ())
                else ("a field of the type the mapping writes")
            )
            found.append(Finding(sobject, name, "missing", f"create it ({kind})"))
            continue
        if name in written and not (field.get("createable") or field.get("updateable")):
            found.append(
                Finding(
                    sobject,
                    name,
                    "not writable by the integration user",
                    "grant Edit in its field-level security",
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
