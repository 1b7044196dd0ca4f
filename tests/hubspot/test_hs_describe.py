"""`HubSpotAdapter.describe_fields`: the Properties API's answer read as the native shape that
`connector check` holds the mapping files against (adapters/hubspot/describe.py)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import respx

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.describe import native_field
from connector.mapping.catalog import MappingCatalog
from connector.mapping.live_check import check_against_schema
from connector.model import Entity
from tests.hubspot.conftest import BASE

SALE_FILE = "mappings/hubspot/sale.yaml"


def prop(name: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    """A `Property` as the Properties API answers it (hubspot.md §4)."""
    field_type = {"number": "number", "enumeration": "select", "bool": "booleancheckbox"}
    body: dict[str, Any] = {
        "name": name,
        "label": name,
        "type": kind,
        "fieldType": field_type.get(kind, "text"),
        "groupName": "dealinformation",
        "options": [],
        "calculated": False,
        "hasUniqueValue": False,
        "hubspotDefined": True,
        "modificationMetadata": {
            "archivable": False,
            "readOnlyDefinition": True,
            "readOnlyValue": False,
        },
        "archived": False,
    }
    body.update(extra)
    return body


def options(*values: str, hidden: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {"label": v.title(), "value": v, "displayOrder": i, "hidden": v in hidden}
        for i, v in enumerate([*values, *hidden])
    ]


def read_only(name: str, kind: str = "number", **extra: Any) -> dict[str, Any]:
    meta = {"archivable": False, "readOnlyDefinition": True, "readOnlyValue": True}
    return prop(name, kind, modificationMetadata=meta, **extra)


def deal_properties(stages: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        prop("erp_order_no", hasUniqueValue=True, hubspotDefined=False),
        prop("dealname"),
        prop("dealstage", "enumeration", options=options(*stages)),
        prop("pipeline", "enumeration", options=options("default")),
        prop("amount", "number"),
        prop("closedate", "datetime"),
        prop("deal_currency_code", "enumeration", options=options("EUR", "USD")),
        prop("erp_order_status", hubspotDefined=False),
        prop("hubspot_owner_id", "enumeration", options=options("101"), externalOptions=True),
        read_only("hs_lastmodifieddate", "datetime"),
    ]


def line_properties() -> list[dict[str, Any]]:
    return [
        prop("erp_line_no", "number", hubspotDefined=False),
        prop("name"),
        prop("hs_sku"),
        prop("price", "number"),
        prop("quantity", "number"),
        prop("discount", "number"),
        read_only("amount", calculated=True),
        read_only("hs_pre_discount_amount", calculated=True),
    ]


def position(text: str, needle: str, *, after: str = "") -> str:
    offset = text.index(needle, text.index(after) if after else 0)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{column}"


def test_a_property_reads_as_its_type_writability_and_closed_list():
    stage = native_field(
        prop("dealstage", "enumeration", options=options("open", hidden=("retired",)))
    )
    # HubSpot refuses an enumeration value outside its options, so the list is restricted;
    # a hidden option is hidden from people, still a value the API takes.
    assert stage.values == ("open", "retired")
    assert stage.restricted
    assert stage.createable and stage.updateable
    amount = native_field(read_only("amount", calculated=True))
    assert (amount.createable, amount.updateable, amount.type_label) == (
        False,
        False,
        "calculated number",
    )
    flagged = native_field(read_only("hs_object_id"))
    assert not flagged.createable and not flagged.updateable and flagged.values is None
    # `calculated` alone (without readOnlyValue) is enough to refuse a write.
    assert not native_field(prop("hs_total", "number", calculated=True)).updateable
    assert native_field(prop("n", "number")).python_type is float
    assert native_field(prop("b", "bool")).python_type is bool
    assert native_field(prop("d", "date")).python_type is str
    # Options kept elsewhere (owners, pipeline stages) are judged when listed, unknown if not.
    owners = prop("hubspot_owner_id", "enumeration", externalOptions=True)
    assert native_field({**owners, "options": options("101")}).values == ("101",)
    assert native_field(owners).values is None and not native_field(owners).restricted
    assert native_field(prop("empty", "enumeration")).values == ()  # its own list, empty
    free = native_field(prop("dealname"))
    assert free.values is None and not free.restricted


@respx.mock
async def test_a_sale_is_described_from_deals_and_line_items_once_per_object_type(
    adapter: HubSpotAdapter,
):
    deals = respx.get(f"{BASE}/crm/v3/properties/deals").respond(
        json={"results": [*deal_properties(("a",)), prop("gone", archived=True)]}
    )
    lines = respx.get(f"{BASE}/crm/v3/properties/line_items").respond(
        json={"results": line_properties()}
    )
    schema = await adapter.describe_fields(Entity.SALE)
    again = await adapter.describe_fields(Entity.SALE)
    assert (deals.call_count, lines.call_count) == (1, 1)  # cached for the run
    assert schema is not None and again is not None
    assert schema.where == "deals"
    # `erp_order_no` is the lookup key (idProperty) and unique: nothing beyond the mapping.
    assert schema.problems == ()
    assert schema.field("gone") is None  # an archived property cannot be written
    # The pseudo-fields the adapter translates, with the abilities of what they become.
    owner = schema.field("owner_email")
    assert owner is not None and owner.values is None and owner.updateable
    assert schema.field("associations.company") is not None
    assert schema.field("associations.contact") is not None
    assert schema.field("lines") is not None
    assert schema.field("DealName") is None  # internal names match exactly
    assert schema.lines is not None and schema.lines.where == "line_items"
    line_amount = schema.lines.field("amount")
    assert line_amount is not None and not line_amount.updateable


@respx.mock
async def test_the_owner_pseudo_field_is_read_only_or_absent_with_its_property(
    adapter: HubSpotAdapter,
):
    respx.get(f"{BASE}/crm/v3/properties/companies").respond(
        json={"results": [prop("name"), read_only("hubspot_owner_id", "enumeration")]}
    )
    respx.get(f"{BASE}/crm/v3/properties/contacts").respond(json={"results": [prop("email")]})
    companies = await adapter.describe_fields(Entity.CUSTOMER)
    assert companies is not None
    owner = companies.field("owner_email")
    assert owner is not None and not owner.updateable
    assert companies.field("associations.company") is None  # companies carry none
    contacts = await adapter.describe_fields(Entity.CONTACT)
    assert contacts is not None
    assert contacts.field("owner_email") is None
    assert contacts.field("associations.company") is not None


@respx.mock
async def test_the_shipped_sale_mapping_against_a_portal_with_its_own_stages(
    adapter: HubSpotAdapter,
):
    # A portal whose default pipeline was edited: `closedlost` is now `lost_deal`.
    stages = ("appointmentscheduled", "qualifiedtobuy", "closedwon", "lost_deal")
    respx.get(f"{BASE}/crm/v3/properties/deals").respond(json={"results": deal_properties(stages)})
    respx.get(f"{BASE}/crm/v3/properties/line_items").respond(json={"results": line_properties()})
    schema = await adapter.describe_fields(Entity.SALE)
    assert schema is not None
    text = resources.files("mappings").joinpath("hubspot", "sale.yaml").read_text("utf-8")
    compiled = MappingCatalog().mapper("hubspot", Entity.SALE).fields
    found = check_against_schema(
        text, SALE_FILE, Entity.SALE, schema, written=True, compiled=compiled
    )
    problems = [str(p) for p in found.problems]
    where = position(text, "closedlost", after="native: dealstage")
    assert problems == [
        f"{SALE_FILE}:{where}: deals.dealstage is a restricted enumeration without the value "
        "'closedlost' — did you mean `closedwon`?: records mapped to it would be refused; add "
        "it to the enumeration or map to one of its values"
    ], problems
    # The line `amount` is calculated, and the file marks it `computed`: not a write, no finding.
    written = text.replace(
        "native: amount, transform: {decimal: 2}, computed: true",
        "native: amount, transform: {decimal: 2}",
    )
    assert written != text
    found = check_against_schema(written, SALE_FILE, Entity.SALE, schema, written=True)
    line = position(written, "amount", after="canonical: line_total")
    assert [str(p) for p in found.problems][1:] == [
        f"{SALE_FILE}:{line}: line_items.amount is computed by the system but the mapping "
        "writes it: mark the entry `computed: true` (or `direction: inbound`)"
    ], found.problems


@respx.mock
async def test_a_key_the_adapter_upserts_by_must_be_a_unique_property(adapter: HubSpotAdapter):
    respx.get(f"{BASE}/crm/v3/properties/companies").respond(
        json={
            "results": [
                prop("connector_key", hubspotDefined=False),  # made by hand, not unique
                prop("erp_customer_no", hasUniqueValue=True, hubspotDefined=False),
            ]
        }
    )
    schema = await adapter.describe_fields(Entity.CUSTOMER)
    assert schema is not None
    [problem] = schema.problems
    assert problem.startswith("companies.connector_key is not a unique property")
    assert "archive connector_key and run `connector hubspot setup`" in problem
