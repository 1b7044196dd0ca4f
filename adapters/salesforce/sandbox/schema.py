"""The sandbox org's sObjects and fields: what describe would say, and what writes must obey.

Facts from salesforce.md §7 (field lists, lengths, required fields, read-only roll-ups and the
computed IsWon/IsClosed, Contact.Name) and the object reference pages cited there. The custom
fields are the ones docs/native-shapes.md agrees on; `Connector_Key__c` and the `ERP_*_No__c`
fields are External ID + Unique, as `connector salesforce setup` asks an admin to create them.

Field names are case-insensitive in the API (a body may say `name` for `Name`); `SObject.field`
looks them up that way and answers with the declared spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Opportunity stages of the default sales process: (name, is_closed, is_won).
DEFAULT_STAGES: tuple[tuple[str, bool, bool], ...] = (
    ("Prospecting", False, False),
    ("Qualification", False, False),
    ("Needs Analysis", False, False),
    ("Value Proposition", False, False),
    ("Id. Decision Makers", False, False),
    ("Perception Analysis", False, False),
    ("Proposal/Price Quote", False, False),
    ("Negotiation/Review", False, False),
    ("Closed Won", True, True),
    ("Closed Lost", True, False),
)

#: Account.Industry's standard values (an org may edit them; restricted here by default).
INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
    "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare",
    "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit",
    "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
    "Utilities", "Other",
)  # fmt: skip


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # id string textarea email phone url picklist boolean int double currency
    #            percent date datetime reference
    length: int | None = None
    required: bool = False  # not nillable on create: REQUIRED_FIELD_MISSING
    writable: bool = True
    external_id: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: str | None = None
    #: The relationship name a query follows (`Owner` for `OwnerId`).
    relationship: str | None = None
    #: Decimal places kept for currency/double/percent (AnnualRevenue keeps none).
    scale: int = 2


@dataclass
class SObject:
    name: str
    prefix: str
    fields: dict[str, Field] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lower = {name.lower(): spec for name, spec in self.fields.items()}
        self.required = [s.name for s in self.fields.values() if s.required and s.writable]
        self.unique = [s for s in self.fields.values() if s.unique]
        self._relations = {
            spec.relationship.lower(): spec for spec in self.fields.values() if spec.relationship
        }

    def add(self, spec: Field) -> None:
        self.fields[spec.name] = spec
        self.__post_init__()

    def field(self, name: str) -> Field | None:
        found = self.fields.get(name)
        return found if found is not None else self._lower.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        return self._relations.get(name.lower())


def _system() -> list[Field]:
    return [
        Field("Id", "id", writable=False),
        Field("IsDeleted", "boolean", writable=False),
        Field("CreatedDate", "datetime", writable=False),
        Field("LastModifiedDate", "datetime", writable=False),
        Field("SystemModstamp", "datetime", writable=False),
        Field("CreatedById", "reference", writable=False, reference_to="User"),
        Field("LastModifiedById", "reference", writable=False, reference_to="User"),
    ]


def _owner() -> Field:
    return Field("OwnerId", "reference", reference_to="User", relationship="Owner")


def _key(name: str) -> Field:
    return Field(name, "string", 80, external_id=True, unique=True)


def _address(prefix: str) -> list[Field]:
    return [
        Field(f"{prefix}Street", "textarea", 255),
        Field(f"{prefix}City", "string", 40),
        Field(f"{prefix}State", "string", 80),
        Field(f"{prefix}PostalCode", "string", 20),
        Field(f"{prefix}Country", "string", 80),
    ]


def _make(name: str, prefix: str, specs: list[Field]) -> SObject:
    return SObject(name, prefix, {spec.name: spec for spec in [*_system(), *specs]})


def build_schema(
    stages: tuple[tuple[str, bool, bool], ...] = DEFAULT_STAGES,
    *,
    industry_restricted: bool = True,
) -> dict[str, SObject]:
    """The org's objects. Key prefixes from salesforce.md "Record IDs" and the Place Order API
    example (001 Account, 003 Contact, 006 Opportunity, 01s Pricebook2, 01u PricebookEntry)."""
    stage_names = tuple(name for name, _, _ in stages)
    objects = [
        _make(
            "User",
            "005",
            [
                Field("Username", "string", 80, required=True, unique=True),
                Field("Email", "email", 128, required=True),
                Field("FirstName", "string", 40),
                Field("LastName", "string", 80, required=True),
                Field("Name", "string", 121, writable=False),
                Field("IsActive", "boolean"),
            ],
        ),
        _make(
            "Account",
            "001",
            [
                Field("Name", "string", 255, required=True),
                Field("AccountNumber", "string", 40),
                Field("Phone", "phone", 40),
                Field("Fax", "phone", 40),
                Field("Website", "url", 255),
                Field("Industry", "picklist", picklist=INDUSTRIES, restricted=industry_restricted),
                Field("Type", "picklist", picklist=("Prospect", "Customer - Direct", "Other")),
                Field("NumberOfEmployees", "int"),
                Field("AnnualRevenue", "currency", scale=0),
                *_address("Billing"),
                *_address("Shipping"),
                Field("Description", "textarea", 32000),
                _owner(),
                _key("Connector_Key__c"),
                _key("ERP_Customer_No__c"),
                Field(
                    "ERP_Customer_Status__c",
                    "picklist",
                    picklist=("active", "blocked", "inactive"),
                    restricted=True,
                ),
                Field("ERP_Lifetime_Revenue__c", "currency"),
                Field("ERP_Last_Order_Date__c", "date"),
                Field("ERP_Open_Orders__c", "double"),
            ],
        ),
        _make(
            "Contact",
            "003",
            [
                Field("LastName", "string", 80, required=True),
                Field("FirstName", "string", 40),
                Field("Name", "string", 121, writable=False),
                Field("Email", "email", 80),
                Field("Phone", "phone", 40),
                Field("MobilePhone", "phone", 40),
                Field("Title", "string", 128),
                Field("Department", "string", 80),
                Field("AccountId", "reference", reference_to="Account", relationship="Account"),
                *_address("Mailing"),
                _owner(),
                _key("Connector_Key__c"),
                _key("ERP_Contact_No__c"),
            ],
        ),
        _make(
            "Opportunity",
            "006",
            [
                Field("Name", "string", 120, required=True),
                Field(
                    "StageName", "picklist", required=True, picklist=stage_names, restricted=True
                ),
                Field("CloseDate", "date", required=True),
                Field("Amount", "currency"),
                Field("AccountId", "reference", reference_to="Account", relationship="Account"),
                Field("ContactId", "reference", reference_to="Contact", relationship="Contact"),
                Field("Pricebook2Id", "reference", reference_to="Pricebook2"),
                Field("IsClosed", "boolean", writable=False),
                Field("IsWon", "boolean", writable=False),
                Field("HasOpportunityLineItem", "boolean", writable=False),
                Field("Description", "textarea", 32000),
                _owner(),
                _key("Connector_Key__c"),
                _key("ERP_Order_No__c"),
                Field("ERP_Order_Status__c", "string", 40),
            ],
        ),
        _make(
            "OpportunityLineItem",
            "00k",
            [
                Field(
                    "OpportunityId",
                    "reference",
                    required=True,
                    reference_to="Opportunity",
                    relationship="Opportunity",
                ),
                Field(
                    "PricebookEntryId",
                    "reference",
                    required=True,
                    reference_to="PricebookEntry",
                    relationship="PricebookEntry",
                ),
                Field("Product2Id", "reference", writable=False, reference_to="Product2"),
                Field("ProductCode", "string", 255, writable=False),
                Field("Quantity", "double", required=True),
                Field("UnitPrice", "currency"),
                Field("TotalPrice", "currency"),
                Field("ListPrice", "currency", writable=False),
                Field("Discount", "percent"),
                Field("Description", "string", 255),
                Field("SortOrder", "int", writable=False),
            ],
        ),
        _make(
            "Product2",
            "01t",
            [
                Field("Name", "string", 255, required=True),
                Field("ProductCode", "string", 255),
                Field("IsActive", "boolean"),
            ],
        ),
        _make(
            "Pricebook2",
            "01s",
            [
                Field("Name", "string", 255, required=True),
                Field("IsStandard", "boolean", writable=False),
                Field("IsActive", "boolean"),
            ],
        ),
        _make(
            "PricebookEntry",
            "01u",
            [
                Field(
                    "Pricebook2Id",
                    "reference",
                    required=True,
                    reference_to="Pricebook2",
                    relationship="Pricebook2",
                ),
                Field(
                    "Product2Id",
                    "reference",
                    required=True,
                    reference_to="Product2",
                    relationship="Product2",
                ),
                Field("ProductCode", "string", 255, writable=False),
                Field("UnitPrice", "currency", required=True),
                Field("IsActive", "boolean"),
            ],
        ),
    ]
    return {obj.name: obj for obj in objects}


#: Objects that carry `CurrencyIsoCode` once multi-currency is on (salesforce.md §7: the field
#: exists only in multi-currency orgs). On a line it is read-only: it follows the opportunity.
CURRENCY_OBJECTS = ("Account", "Contact", "Opportunity", "Product2", "PricebookEntry")


def add_currency_fields(schema: dict[str, SObject], currencies: tuple[str, ...]) -> None:
    """Turn multi-currency on: `CurrencyIsoCode` (a restricted picklist of the org's active
    currencies) on the records that have one, and each user's `DefaultCurrencyIsoCode`."""
    for name in CURRENCY_OBJECTS:
        schema[name].add(Field("CurrencyIsoCode", "picklist", 3, picklist=currencies,
                               restricted=True))  # fmt: skip
    schema["OpportunityLineItem"].add(
        Field("CurrencyIsoCode", "picklist", 3, writable=False, picklist=currencies)
    )
    schema["User"].add(
        Field("DefaultCurrencyIsoCode", "picklist", 3, picklist=currencies, restricted=True)
    )
