"""The sandbox's Tooling API CustomField create and field-level security, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.salesforce.sandbox import Sandbox, SandboxOptions, create_app

V = "/services/data/v62.0"
TOOLING = f"{V}/tooling/sobjects/CustomField/"
KEY_FIELD = {
    "FullName": "Account.Connector_Key__c",
    "Metadata": {
        "label": "Connector Key",
        "type": "Text",
        "length": 80,
        "externalId": True,
        "unique": True,
    },
}


async def _client(sandbox: Sandbox) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(sandbox))
    client = httpx.AsyncClient(transport=transport, base_url="http://sf.test")
    token = (
        await client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox-consumer-key",
                "client_secret": "sandbox-consumer-secret",
            },
        )
    ).json()
    client.headers["Authorization"] = f"Bearer {token['access_token']}"
    return client


@pytest.fixture
async def fresh() -> AsyncIterator[tuple[httpx.AsyncClient, Sandbox]]:
    """A new org: none of the connector's custom fields yet."""
    sandbox = Sandbox(SandboxOptions(seed_demo_accounts=False, custom_fields=False))
    client = await _client(sandbox)
    yield client, sandbox
    await client.aclose()


async def _described(client: httpx.AsyncClient, sobject: str) -> dict[str, Any]:
    answer = await client.get(f"{V}/sobjects/{sobject}/describe")
    return {f["name"]: f for f in answer.json()["fields"]}


async def _grant(
    client: httpx.AsyncClient, sandbox: Sandbox, field: str, *, edit: bool = True
) -> None:
    made = await client.post(f"{V}/sobjects/PermissionSet", json={"Name": "P", "Label": "P"})
    assert made.status_code == 201, made.text
    permission_set = made.json()["id"]
    assigned = await client.post(
        f"{V}/sobjects/PermissionSetAssignment",
        json={"AssigneeId": sandbox.integration_user_id, "PermissionSetId": permission_set},
    )
    assert assigned.status_code == 201, assigned.text
    granted = await client.post(
        f"{V}/sobjects/FieldPermissions",
        json={
            "ParentId": permission_set,
            "SobjectType": field.split(".")[0],
            "Field": field,
            "PermissionsRead": True,
            "PermissionsEdit": edit,
        },
    )
    assert granted.status_code == 201, granted.text


async def test_a_created_field_is_invisible_until_field_level_security_grants_it(fresh):
    client, sandbox = fresh
    assert "Connector_Key__c" not in await _described(client, "Account")
    created = await client.post(TOOLING, json=KEY_FIELD)
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == [] and body["id"].startswith("00N")
    assert len(body["id"]) == 18
    # Created, but no profile or permission set sees it: describe, SOQL and writes do not.
    assert "Connector_Key__c" not in await _described(client, "Account")
    query = await client.get(f"{V}/query", params={"q": "SELECT Connector_Key__c FROM Account"})
    assert query.status_code == 400 and query.json()[0]["errorCode"] == "INVALID_FIELD"
    write = await client.post(f"{V}/sobjects/Account", json={"Name": "A", "Connector_Key__c": "k"})
    assert write.status_code == 400 and write.json()[0]["errorCode"] == "INVALID_FIELD"

    await _grant(client, sandbox, "Account.Connector_Key__c")
    described = (await _described(client, "Account"))["Connector_Key__c"]
    assert described["externalId"] and described["unique"] and described["length"] == 80
    assert described["createable"] and described["updateable"]
    path = f"{V}/composite/sobjects/Account/Connector_Key__c"
    record = {"attributes": {"type": "Account"}, "Connector_Key__c": "k-1", "Name": "Acme"}
    upserted = await client.patch(path, json={"allOrNone": False, "records": [record]})
    assert upserted.json()[0]["created"] is True
    again = await client.patch(path, json={"allOrNone": False, "records": [record]})
    assert again.json()[0]["created"] is False  # the new field is a working external id
    rows = await client.get(
        f"{V}/query", params={"q": "SELECT Id FROM Account WHERE Connector_Key__c = 'k-1'"}
    )
    assert rows.json()["totalSize"] == 1


async def test_read_without_edit_leaves_the_field_read_only(fresh):
    client, sandbox = fresh
    metadata = {"label": "Open", "type": "Number", "precision": 18, "scale": 0}
    body = {"FullName": "Account.ERP_Open_Orders__c", "Metadata": metadata}
    assert (await client.post(TOOLING, json=body)).status_code == 201
    await _grant(client, sandbox, "Account.ERP_Open_Orders__c", edit=False)
    described = (await _described(client, "Account"))["ERP_Open_Orders__c"]
    assert described["type"] == "double"
    assert not described["createable"] and not described["updateable"]
    write = await client.post(f"{V}/sobjects/Account", json={"Name": "A", "ERP_Open_Orders__c": 2})
    assert write.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


async def test_a_picklist_field_takes_its_values_and_restriction(fresh):
    client, sandbox = fresh
    body = {
        "FullName": "Account.ERP_Customer_Status__c",
        "Metadata": {
            "label": "Status",
            "type": "Picklist",
            "valueSet": {
                "restricted": True,
                "valueSetDefinition": {"value": [{"fullName": "active"}, {"fullName": "blocked"}]},
            },
        },
    }
    assert (await client.post(TOOLING, json=body)).status_code == 201
    await _grant(client, sandbox, "Account.ERP_Customer_Status__c")
    described = (await _described(client, "Account"))["ERP_Customer_Status__c"]
    assert described["restrictedPicklist"] is True
    assert [v["value"] for v in described["picklistValues"]] == ["active", "blocked"]
    path = f"{V}/composite/sobjects"
    record = {"attributes": {"type": "Account"}, "Name": "A", "ERP_Customer_Status__c": "gone"}
    answer = await client.post(path, json={"allOrNone": False, "records": [record]})
    assert answer.json()[0]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"FullName": "Account.Connector_Key__c"}, 400, "REQUIRED_FIELD_MISSING"),
        ({**KEY_FIELD, "FullName": "Account.No_Suffix"}, 400, "FIELD_INTEGRITY_EXCEPTION"),
        ({**KEY_FIELD, "FullName": "Account.Two__Parts__c"}, 400, "FIELD_INTEGRITY_EXCEPTION"),
        ({**KEY_FIELD, "FullName": "Nothing.X__c"}, 400, "INVALID_TYPE"),
        ({**KEY_FIELD, "Metadata": {"type": "Text", "length": 80}}, 400, "REQUIRED_FIELD_MISSING"),
        (
            {**KEY_FIELD, "Metadata": {"label": "L", "type": "Text", "length": 300}},
            400,
            "FIELD_INTEGRITY_EXCEPTION",
        ),
        (
            {**KEY_FIELD, "Metadata": {"label": "L", "type": "Date", "externalId": True}},
            400,
            "FIELD_INTEGRITY_EXCEPTION",
        ),
        ({**KEY_FIELD, "FullName": "Account.Name__c", "Metadata": {"label": "L", "type": "Blob"}},
         400, "FIELD_INTEGRITY_EXCEPTION"),
    ],
)  # fmt: skip
async def test_a_create_salesforce_would_refuse_is_refused(fresh, body, status, code):
    client, _ = fresh
    answer = await client.post(TOOLING, json=body)
    assert answer.status_code == status
    assert answer.json()[0]["errorCode"] == code


async def test_a_field_that_exists_already_is_a_duplicate(fresh):
    client, _ = fresh
    assert (await client.post(TOOLING, json=KEY_FIELD)).status_code == 201
    again = await client.post(TOOLING, json=KEY_FIELD)  # created, still invisible
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    second = await client.post(
        TOOLING, json={**KEY_FIELD, "FullName": "Account.ERP_Customer_No__c"}
    )
    assert second.status_code == 201
    shipped = Sandbox(SandboxOptions(seed_demo_accounts=False))  # the default org has them
    other = await _client(shipped)
    try:
        existing = await other.post(TOOLING, json=KEY_FIELD)
        assert existing.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    finally:
        await other.aclose()


async def test_without_customize_application_the_create_is_refused():
    sandbox = Sandbox(
        SandboxOptions(seed_demo_accounts=False, custom_fields=False, customize_application=False)
    )
    client = await _client(sandbox)
    try:
        answer = await client.post(TOOLING, json=KEY_FIELD)
    finally:
        await client.aclose()
    assert answer.status_code == 403
    assert answer.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert sandbox.tooling.created == {}
