"""The describe-based mapping check and the Tooling API create requests, against respx."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import httpx
import pytest
import respx

from adapters.salesforce.adapter import SalesforceAdapter
from adapters.salesforce.describe import adapter_problems
from adapters.salesforce.sandbox.schema import INDUSTRIES
from adapters.salesforce.setup import Finding, creation, findings_for
from adapters.salesforce.tooling import PERMISSION_SET, create
from connector.http import LimiterRegistry
from connector.mapping.catalog import MappingCatalog
from connector.mapping.live_check import check_against_schema
from connector.model import Entity
from tests.salesforce.test_sf_errors import DATA, USER, no_sleep, settings, token_route

CUSTOMER_FILE = "mappings/salesforce/customer.yaml"


def field(name: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    """One `fields[]` entry shaped like Salesforce's describe (salesforce.md §7)."""
    entry: dict[str, Any] = {
        "name": name,
        "type": kind,
        "createable": True,
        "updateable": True,
        "externalId": False,
        "unique": False,
        "restrictedPicklist": False,
        "picklistValues": [],
        "nillable": True,
    }
    entry.update(extra)
    return entry


def values(*names: str, inactive: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {"value": v, "label": v, "active": v not in inactive, "defaultValue": False}
        for v in (*names, *inactive)
    ]


def account_describe() -> dict[str, Any]:
    """An org that differs from the shipped mapping in four ways the check must find."""
    industries = [value for value in INDUSTRIES if value != "Agriculture"]
    fields = [
        field("Id", "id", createable=False, updateable=False),
        field("SystemModstamp", "datetime", createable=False, updateable=False),
        field("Connector_Key__c", externalId=True, unique=True),
        field("OwnerId", "reference"),
        field("Name"),
        # Website is read-only for this user (field-level security without Edit).
        field("Website", "url", createable=False, updateable=False),
        field("Phone", "phone"),
        # Restricted, without "Agriculture" (inactive here), which the mapping writes.
        field(
            "Industry",
            "picklist",
            restrictedPicklist=True,
            picklistValues=values(*industries, inactive=("Agriculture",)),
        ),
        field("NumberOfEmployees", "int"),
        field("Description", "textarea"),
        *(
            field(f"{kind}{part}")
            for kind in ("Billing", "Shipping")
            for part in ("Street", "City", "State", "PostalCode", "Country")
            if f"{kind}{part}" != "ShippingStreet"
        ),
        # A number where the mapping carries text without a transform.
        field("ShippingStreet", "double"),
        field(
            "ERP_Customer_Status__c",
            "picklist",
            restrictedPicklist=False,
            picklistValues=values("active", "inactive"),
        ),
        field("ERP_Lifetime_Revenue__c", "currency"),
        field("ERP_Last_Order_Date__c", "date"),
        field("ERP_Open_Orders__c", "double"),
        # ERP_Customer_No__c is missing.
    ]
    return {"name": "Account", "fields": fields}


def position(text: str, needle: str, *, after: str | None = None) -> str:
    """`line:column` (1-based) of the first `needle` (after the first `after`)."""
    start = text.index(after) if after else 0
    offset = text.index(needle, start)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{column}"


def shipped(name: str) -> str:
    return resources.files("mappings").joinpath("salesforce", name).read_text(encoding="utf-8")


async def opened() -> SalesforceAdapter:
    adapter = SalesforceAdapter("crm", settings(), registry=LimiterRegistry(), sleep=no_sleep)
    await adapter.open()
    return adapter


@respx.mock
async def test_describe_check_names_file_line_column_of_each_finding():
    token_route()
    described = respx.get(f"{DATA}/sobjects/Account/describe").respond(json=account_describe())
    adapter = await opened()
    try:
        schema = await adapter.describe_fields(Entity.CUSTOMER)
    finally:
        await adapter.close()
    assert described.call_count == 1
    assert schema is not None
    # Beyond the mapping: fields the adapter's own queries select (reported against the system).
    [lacking] = schema.problems
    assert lacking.startswith(
        "Account lacks AccountNumber, AnnualRevenue, ERP_Customer_No__c, which the adapter reads"
    )
    text = shipped("customer.yaml")
    compiled = MappingCatalog().mapper("salesforce", Entity.CUSTOMER).fields
    found = check_against_schema(
        text, CUSTOMER_FILE, Entity.CUSTOMER, schema, written=True, compiled=compiled
    )
    problems = {str(p) for p in found.problems}
    missing = position(text, "ERP_Customer_No__c", after="fields:")
    assert any(
        p.startswith(f"{CUSTOMER_FILE}:{missing}: Account has no field `ERP_Customer_No__c`")
        for p in problems
    ), problems
    agriculture = position(text, "Agriculture:")
    assert any(
        p.startswith(f"{CUSTOMER_FILE}:{agriculture}: Account.Industry is a restricted picklist "
                     "without the value 'Agriculture'")
        for p in problems
    ), problems  # fmt: skip
    website = position(text, "Website", after="fields:")
    assert any(
        p.startswith(f"{CUSTOMER_FILE}:{website}: Account.Website is read-only") for p in problems
    ), problems
    street = position(text, "ShippingStreet")
    assert any(
        p.startswith(f"{CUSTOMER_FILE}:{street}: Account.ShippingStreet is double")
        for p in problems
    ), problems
    # Only those four: every other mapped field is there, writable and of a fitting type.
    assert len(problems) == 4, problems
    warnings = {str(w) for w in found.warnings}
    blocked = position(text, "blocked:")
    assert any(
        w.startswith(f"{CUSTOMER_FILE}:{blocked}: Account.ERP_Customer_Status__c is a picklist "
                     "without the value 'blocked'")
        for w in warnings
    ), warnings  # fmt: skip
    keep = position(text, "unknown: keep", after="native: Industry")
    assert any(w.startswith(f"{CUSTOMER_FILE}:{keep}: `unknown: keep`") for w in warnings)


@respx.mock
async def test_nothing_is_judged_for_a_route_that_only_reads_the_org():
    token_route()
    respx.get(f"{DATA}/sobjects/Account/describe").respond(json=account_describe())
    adapter = await opened()
    try:
        schema = await adapter.describe_fields(Entity.CUSTOMER)
    finally:
        await adapter.close()
    assert schema is not None
    found = check_against_schema(
        shipped("customer.yaml"), CUSTOMER_FILE, Entity.CUSTOMER, schema, written=False
    )
    # A field the org lacks still breaks reads; writability and picklists do not matter.
    assert [p.message.split(";")[0] for p in found.problems] == [
        "Account has no field `ERP_Customer_No__c`"
    ]
    assert found.warnings == []


def test_setup_findings_carry_the_tooling_body_of_a_missing_custom_field():
    described = account_describe()
    found = findings_for("Account", described, {"Name", "ERP_Customer_No__c"}, {"Website"})
    by_field = {f.field: f for f in found}
    assert by_field["ERP_Customer_No__c"].create == {
        "FullName": "Account.ERP_Customer_No__c",
        "Metadata": {
            "label": "ERP Customer No",
            "type": "Text",
            "length": 80,
            "externalId": True,
            "unique": True,
            "caseSensitive": False,
        },
    }
    assert "Text(80), External ID, Unique" in str(by_field["ERP_Customer_No__c"])
    assert by_field["Website"].problem == "not writable by the integration user"
    assert by_field["Website"].create is None and not by_field["Website"].grant
    assert creation("Account", "Website") is None  # a standard field cannot be created


def _query_router(answers: dict[str, list[dict[str, Any]]]) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        text = request.url.params["q"]
        for prefix, rows in answers.items():
            if text.startswith(prefix):
                return httpx.Response(
                    200, json={"done": True, "totalSize": len(rows), "records": rows}
                )
        raise AssertionError(f"unexpected query {text}")

    return answer


@respx.mock
async def test_create_posts_the_tooling_body_then_grants_access_through_a_permission_set():
    token_route()
    tooling = respx.post(f"{DATA}/tooling/sobjects/CustomField/").respond(
        201,
        json={
            "id": "00N5g00000AbCdEAAA",
            "success": True,
            "errors": [],
            "warnings": [],
            "infos": [],
        },
    )
    respx.get(f"{DATA}/query").mock(
        side_effect=_query_router(
            {
                "SELECT Id FROM PermissionSet ": [],
                "SELECT Id FROM PermissionSetAssignment ": [],
                "SELECT Id, Field, PermissionsEdit FROM FieldPermissions ": [],
            }
        )
    )
    permission_set = respx.post(f"{DATA}/sobjects/PermissionSet").respond(
        201, json={"id": "0PS5g000000AbCdGAK", "success": True, "errors": []}
    )
    assignment = respx.post(f"{DATA}/sobjects/PermissionSetAssignment").respond(
        201, json={"id": "0Pa5g000000AbCdCAK", "success": True, "errors": []}
    )
    permissions = respx.post(f"{DATA}/sobjects/FieldPermissions").respond(
        201, json={"id": "01k5g000000AbCdAAK", "success": True, "errors": []}
    )
    body = creation("Account", "Connector_Key__c")
    assert body is not None
    adapter = await opened()
    try:
        outcome = await create(
            adapter.client, [Finding("Account", "Connector_Key__c", "missing", "", create=body)]
        )
    finally:
        await adapter.close()
    assert outcome.failed == []
    sent = json.loads(tooling.calls.last.request.content)
    assert sent == {
        "FullName": "Account.Connector_Key__c",
        "Metadata": {
            "label": "Connector Key",
            "type": "Text",
            "length": 80,
            "externalId": True,
            "unique": True,
            "caseSensitive": False,
        },
    }
    assert tooling.calls.last.request.headers["Authorization"] == "Bearer tok-1"
    assert json.loads(permission_set.calls.last.request.content) == {
        "Name": PERMISSION_SET,
        "Label": "Connector integration",
    }
    assert json.loads(assignment.calls.last.request.content) == {
        "AssigneeId": USER,
        "PermissionSetId": "0PS5g000000AbCdGAK",
    }
    assert json.loads(permissions.calls.last.request.content) == {
        "ParentId": "0PS5g000000AbCdGAK",
        "SobjectType": "Account",
        "Field": "Account.Connector_Key__c",
        "PermissionsRead": True,
        "PermissionsEdit": True,
    }


@respx.mock
async def test_a_permission_refusal_is_reported_in_salesforce_words_with_what_to_grant():
    token_route()
    respx.post(f"{DATA}/tooling/sobjects/CustomField/").respond(
        403,
        json=[
            {
                "message": "insufficient access rights",
                "errorCode": "INSUFFICIENT_ACCESS_OR_READONLY",
            }
        ],
    )
    body = creation("Account", "ERP_Open_Orders__c")
    assert body is not None
    adapter = await opened()
    try:
        outcome = await create(
            adapter.client, [Finding("Account", "ERP_Open_Orders__c", "missing", "", create=body)]
        )
    finally:
        await adapter.close()
    assert outcome.done == []
    [line] = outcome.failed
    assert line.startswith("Account.ERP_Open_Orders__c: not created:")
    assert "insufficient access rights" in line
    assert "Customize Application" in line


@pytest.mark.parametrize("kind", ["Currency", "Number", "Date", "Picklist"])
def test_the_shipped_custom_fields_have_tooling_bodies_of_their_kind(kind: str):
    bodies = [
        creation(sobject, name)
        for sobject, name in (
            ("Account", "ERP_Lifetime_Revenue__c"),
            ("Account", "ERP_Open_Orders__c"),
            ("Account", "ERP_Last_Order_Date__c"),
            ("Account", "ERP_Customer_Status__c"),
        )
    ]
    assert kind in {b["Metadata"]["type"] for b in bodies if b}


def test_a_key_field_that_is_not_an_external_id_is_the_adapter_s_problem():
    described = {
        "name": "Contact",
        "fields": [field("Id", "id"), field("Connector_Key__c", unique=True)],
    }
    [problem] = adapter_problems("Contact", described, ["Id", "Connector_Key__c"])
    assert problem.startswith("Contact.Connector_Key__c is not External ID + Unique")
    fine = {"name": "Contact", "fields": [field("Connector_Key__c", externalId=True, unique=True)]}
    assert adapter_problems("Contact", fine, ["Connector_Key__c"]) == ()
