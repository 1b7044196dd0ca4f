"""Which sObject each entity is, the fields the adapter reads, and the native shape's extras.

Native records are the sObject's fields without `attributes` (docs/native-shapes.md), plus:

* `Owner.Email` — the owner's e-mail, read through the `Owner` relationship in the same query and
  written by e-mail (owners.py turns it into `OwnerId`). Every record has an owner in
  Salesforce; one owned by the connector's own integration user (what a create without an owner
  gets) reads as having none, so "no rep" survives the round trip;
* on sales, `lines` (OpportunityLineItem rows, lines.py) and `StageOutcome` (`won`, `lost` or
  `open`, from the read-only `IsWon`/`IsClosed`, which follow the org's own stage names);
* `Connector_Key__c` — the External ID + Unique field holding the canonical key, the key of
  every upsert (so a replayed create is an update).

Facts: salesforce.md §7 (fields, required ones, read-only `IsWon`/`IsClosed`/`Amount` with lines).
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.model import Entity

CONNECTOR_KEY = "Connector_Key__c"
MODSTAMP = "SystemModstamp"
OWNER_EMAIL = "Owner.Email"
LINES = "lines"
STAGE_OUTCOME = "StageOutcome"
LINE_OBJECT = "OpportunityLineItem"
#: Only in multi-currency orgs (salesforce.md §7); read when `settings.multi_currency` is true.
CURRENCY = "CurrencyIsoCode"


@dataclass(frozen=True)
class ObjectSpec:
    entity: Entity
    sobject: str
    fields: tuple[str, ...]
    #: Pseudo-fields of the native shape (not in SOQL).
    pseudo: tuple[str, ...] = ()


_COMMON = ("Id", MODSTAMP, CONNECTOR_KEY, "OwnerId", OWNER_EMAIL)
_ADDRESS = tuple(
    f"{kind}{part}"
    for kind in ("Billing", "Shipping")
    for part in ("Street", "City", "State", "PostalCode", "Country")
)

SPECS: dict[Entity, ObjectSpec] = {
    Entity.CUSTOMER: ObjectSpec(
        Entity.CUSTOMER,
        "Account",
        (
            *_COMMON,
            "Name", "AccountNumber", "Phone", "Website", "Industry", "NumberOfEmployees",
            "AnnualRevenue", "Description", *_ADDRESS, "ERP_Customer_No__c",
            "ERP_Customer_Status__c", "ERP_Lifetime_Revenue__c", "ERP_Last_Order_Date__c",
            "ERP_Open_Orders__c",
        ),
    ),
    Entity.CONTACT: ObjectSpec(
        Entity.CONTACT,
        "Contact",
        (
            *_COMMON,
            "FirstName", "LastName", "Email", "Phone", "MobilePhone", "Title", "AccountId",
            "ERP_Contact_No__c",
        ),
    ),
    Entity.SALE: ObjectSpec(
        Entity.SALE,
        "Opportunity",
        (
            *_COMMON,
            "Name", "StageName", "CloseDate", "Amount", "AccountId", "ContactId", "IsWon",
            "IsClosed", "ERP_Order_No__c", "ERP_Order_Status__c",
        ),
        pseudo=(LINES, STAGE_OUTCOME),
    ),
}  # fmt: skip

LINE_FIELDS = (
    "Id", "OpportunityId", "PricebookEntryId", "ProductCode", "Description", "Quantity",
    "UnitPrice", "TotalPrice", "Discount",
)  # fmt: skip
#: Line fields that are computed or copied from the PricebookEntry: never written.
LINE_READ_ONLY = frozenset({"Id", "OpportunityId", "ProductCode", "TotalPrice", "ListPrice"})


def spec(entity: Entity) -> ObjectSpec:
    return SPECS[entity]


def stage_outcome(is_won: object, is_closed: object) -> str:
    if is_won is True:
        return "won"
    return "lost" if is_closed is True else "open"
