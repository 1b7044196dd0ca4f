"""Which HubSpot object each entity is, and the properties the adapter reads and keys on.

Facts from hubspot.md §1.1 (default properties, object types) and §2 (the last-modified property
is `lastmodifieddate` on contacts, `hs_lastmodifieddate` elsewhere); the external-id properties
are the agreement in docs/native-shapes.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.model import Entity

#: Unique property holding the canonical key: the `idProperty` of every batch upsert, so a
#: replayed create finds the record it created the first time.
CONNECTOR_KEY = "connector_key"
OBJECT_ID = "hs_object_id"
#: Pseudo-fields of the native shape (not HubSpot properties).
ASSOCIATIONS = "associations"
LINES = "lines"
#: The record owner's e-mail, translated to and from `hubspot_owner_id` (owners.py).
OWNER_EMAIL = "owner_email"
LINE_ITEMS = "line_items"
#: The owner property of companies, contacts and deals: an enumeration of owner ids.
OWNER_ID = "hubspot_owner_id"


@dataclass(frozen=True)
class ObjectSpec:
    entity: Entity
    object_type: str
    modified_property: str
    erp_key_property: str
    default_properties: tuple[str, ...]

    @property
    def unique_properties(self) -> frozenset[str]:
        """Properties usable as `idProperty` (our own unique ones; contacts also `email`)."""
        extra = {"email"} if self.object_type == "contacts" else set()
        return frozenset({CONNECTOR_KEY, self.erp_key_property, *extra})


SPECS: dict[Entity, ObjectSpec] = {
    Entity.CUSTOMER: ObjectSpec(
        Entity.CUSTOMER,
        "companies",
        "hs_lastmodifieddate",
        "erp_customer_no",
        (
            "name", "domain", "website", "industry", "numberofemployees", "annualrevenue",
            "phone", "address", "address2", "city", "zip", "state", "country", "description",
            "lifecyclestage", "hubspot_owner_id", "createdate",
            "erp_lifetime_revenue", "erp_last_order_date", "erp_open_orders", "erp_customer_status",
        ),
    ),
    Entity.CONTACT: ObjectSpec(
        Entity.CONTACT,
        "contacts",
        "lastmodifieddate",
        "erp_contact_no",
        (
            "firstname", "lastname", "email", "phone", "mobilephone", "jobtitle", "hs_language",
            "company", "lifecyclestage", "hubspot_owner_id", "createdate",
        ),
    ),
    Entity.SALE: ObjectSpec(
        Entity.SALE,
        "deals",
        "hs_lastmodifieddate",
        "erp_order_no",
        (
            "dealname", "amount", "dealstage", "pipeline", "closedate", "deal_currency_code",
            "description", "hubspot_owner_id", "createdate", "erp_order_status",
        ),
    ),
}  # fmt: skip

LINE_ITEM_PROPERTIES: tuple[str, ...] = (
    "name", "hs_sku", "description", "quantity", "price", "discount", "hs_discount_percentage",
    "amount", "hs_product_id", "hs_position_on_quote", "erp_line_no",
)  # fmt: skip

#: The line-item property that identifies a line within its deal (the ERP's line number): line
#: items are matched by it, so an unchanged line keeps its id and a changed one is updated.
LINE_KEY_PROPERTY = "erp_line_no"


def spec(entity: Entity | str) -> ObjectSpec:
    return SPECS[Entity(entity)]


@dataclass(frozen=True)
class CustomProperty:
    """A property of ours that setup creates (HubSpot `PropertyCreate`, hubspot.md §4)."""

    label: str
    type: str = "string"
    field_type: str = "text"
    unique: bool = False


#: The connector's own properties per object type. Unique ones cannot be made unique later
#: ("Once set, this can't be changed"), so setup must create them before the first sync.
OWN_PROPERTIES: dict[str, dict[str, CustomProperty]] = {
    "companies": {
        CONNECTOR_KEY: CustomProperty("Connector key", unique=True),
        "erp_customer_no": CustomProperty("ERP customer no.", unique=True),
        "erp_lifetime_revenue": CustomProperty("ERP lifetime revenue", "number", "number"),
        "erp_last_order_date": CustomProperty("ERP last order date", "date", "date"),
        "erp_open_orders": CustomProperty("ERP open orders", "number", "number"),
        "erp_customer_status": CustomProperty("ERP customer status"),
    },
    "contacts": {
        CONNECTOR_KEY: CustomProperty("Connector key", unique=True),
        "erp_contact_no": CustomProperty("ERP contact no.", unique=True),
    },
    "deals": {
        CONNECTOR_KEY: CustomProperty("Connector key", unique=True),
        "erp_order_no": CustomProperty("ERP order no.", unique=True),
        "erp_order_status": CustomProperty("ERP order status"),
    },
    "line_items": {
        LINE_KEY_PROPERTY: CustomProperty("ERP line no.", "number", "number"),
    },
}
