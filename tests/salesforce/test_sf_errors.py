"""Each Salesforce error path through the adapter, against respx (no sandbox)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from adapters.salesforce.adapter import SalesforceAdapter
from adapters.salesforce.errors import SALESFORCE_POLICY, parse_salesforce_error
from adapters.salesforce.settings import SalesforceSettings
from connector.adapter import NativeWrite
from connector.errors import ConfigurationError, QuotaExhaustedError
from connector.http import LimiterRegistry, Resolution
from connector.model import Entity

LOGIN = "https://login.example.test"
INSTANCE = "https://acme.my.example.test"
DATA = f"{INSTANCE}/services/data/v62.0"
UPSERT = f"{DATA}/composite/sobjects/Account/Connector_Key__c"
USER = "005000000000001AAA"


def settings(**overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "login_url": LOGIN,
        "auth": {"kind": "client_credentials", "client_id": "ck", "client_secret": "cs"},
        "limits": {"max_attempts": 4, "max_elapsed_seconds": 30, "lock_retries": 2},
    }
    values.update(overrides)
    return SalesforceSettings.model_validate(values)


def token_route(access: str = "tok-1") -> respx.Route:
    return respx.post(f"{LOGIN}/services/oauth2/token").respond(
        json={
            "access_token": access,
            "instance_url": INSTANCE,
            "id": f"{LOGIN}/id/00D000000000001AAA/{USER}",
            "token_type": "Bearer",
            "issued_at": "1700000000000",
        }
    )


async def no_sleep(seconds: float) -> None:
    return None


async def opened(**overrides: Any) -> SalesforceAdapter:
    adapter = SalesforceAdapter(
        "crm", settings(**overrides), registry=LimiterRegistry(), sleep=no_sleep
    )
    await adapter.open()
    return adapter


def writes(n: int = 3) -> list[NativeWrite]:
    return [NativeWrite(f"k{i}", None, {"Name": f"Co {i}"}) for i in range(n)]


def ok(i: int) -> dict[str, Any]:
    return {"id": f"001000000000{i:03d}AAA", "success": True, "errors": [], "created": True}


def failure(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": None,
        "success": False,
        "created": False,
        "errors": [{"statusCode": code, "message": message, "fields": fields or []}],
    }


@respx.mock
async def test_instance_url_comes_from_the_token_and_the_client_is_named():
    token_route()
    route = respx.patch(UPSERT).respond(json=[ok(0)])
    adapter = await opened()
    try:
        [result] = await adapter.upsert(Entity.CUSTOMER, writes(1))
    finally:
        await adapter.close()
    assert result.ok and result.created and result.external_id == "001000000000000AAA"
    sent = route.calls.last.request
    assert sent.url.host == "acme.my.example.test"
    assert sent.headers["Authorization"] == "Bearer tok-1"
    assert sent.headers["Sforce-Call-Options"] == "client=erp-crm-connector"
    body = json.loads(sent.content)
    assert body["allOrNone"] is False
    assert body["records"][0] == {
        "attributes": {"type": "Account"},
        "Name": "Co 0",
        "Connector_Key__c": "k0",
    }


@respx.mock
async def test_invalid_session_refreshes_once_and_repeats():
    grants = token_route()
    session = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    respx.patch(UPSERT).mock(
        side_effect=[httpx.Response(401, json=session), httpx.Response(200, json=[ok(0)])]
    )
    adapter = await opened()
    try:
        [result] = await adapter.upsert(Entity.CUSTOMER, writes(1))
    finally:
        await adapter.close()
    assert result.ok and grants.call_count == 2


@respx.mock
async def test_a_second_invalid_session_is_a_configuration_error():
    token_route()
    session = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    respx.patch(UPSERT).respond(401, json=session)
    adapter = await opened()
    try:
        with pytest.raises(ConfigurationError, match="credentials rejected again"):
            await adapter.upsert(Entity.CUSTOMER, writes(1))
    finally:
        await adapter.close()


@respx.mock
async def test_daily_limit_stops_the_route_without_retrying():
    token_route()
    limit = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    route = respx.patch(UPSERT).respond(403, json=limit)
    adapter = await opened()
    try:
        with pytest.raises(QuotaExhaustedError, match="daily API allocation"):
            await adapter.upsert(Entity.CUSTOMER, writes(1))
        with pytest.raises(QuotaExhaustedError):  # refused locally: no call spent
            await adapter.upsert(Entity.CUSTOMER, writes(1))
    finally:
        await adapter.close()
    assert route.call_count == 1


@respx.mock
async def test_usage_past_the_configured_share_stops_before_the_org_runs_dry():
    token_route()
    route = respx.patch(UPSERT).respond(
        json=[ok(0)], headers={"Sforce-Limit-Info": "api-usage=50/100"}
    )
    adapter = await opened()
    try:
        assert (await adapter.upsert(Entity.CUSTOMER, writes(1)))[0].ok
        with pytest.raises(QuotaExhaustedError):
            await adapter.upsert(Entity.CUSTOMER, writes(1))
    finally:
        await adapter.close()
    assert route.call_count == 1, "half of the allocation is used: the second call is not sent"


@respx.mock
async def test_503_and_a_request_level_lock_are_retried():
    token_route()
    locked = [{"message": "unable to obtain exclusive access", "errorCode": "UNABLE_TO_LOCK_ROW"}]
    route = respx.patch(UPSERT).mock(
        side_effect=[
            httpx.Response(503, json=[{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}]),
            httpx.Response(400, json=locked),
            httpx.Response(200, json=[ok(0)]),
        ]
    )
    adapter = await opened()
    try:
        [result] = await adapter.upsert(Entity.CUSTOMER, writes(1))
    finally:
        await adapter.close()
    assert result.ok and route.call_count == 3


@respx.mock
async def test_locked_records_are_resent_alone_and_neighbours_kept():
    token_route()
    sent: list[list[str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        keys = [r["Connector_Key__c"] for r in json.loads(request.content)["records"]]
        sent.append(keys)
        if len(sent) == 1:
            return httpx.Response(
                200, json=[ok(0), failure("UNABLE_TO_LOCK_ROW", "unable to lock"), ok(2)]
            )
        return httpx.Response(200, json=[ok(1)])

    respx.patch(UPSERT).mock(side_effect=answer)
    adapter = await opened()
    try:
        results = await adapter.upsert(Entity.CUSTOMER, writes(3))
    finally:
        await adapter.close()
    assert [r.ok for r in results] == [True, True, True]
    assert sent == [["k0", "k1", "k2"], ["k1"]]


@respx.mock
@pytest.mark.parametrize(
    ("code", "message", "fields"),
    [
        ("DUPLICATE_VALUE", "duplicate value found: ERP_Customer_No__c duplicates",
         ["ERP_Customer_No__c"]),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Phone must have a country code", ["Phone"]),
        ("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"]),
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Industry: bad value", ["Industry"]),
        ("ENTITY_IS_DELETED", "entity is deleted", []),
    ],
)  # fmt: skip
async def test_record_level_errors_carry_salesforces_message_and_fields(code, message, fields):
    token_route()
    respx.patch(UPSERT).respond(json=[ok(0), failure(code, message, fields), ok(2)])
    adapter = await opened()
    try:
        results = await adapter.upsert(Entity.CUSTOMER, writes(3))
    finally:
        await adapter.close()
    assert results[0].ok and results[2].ok
    error = results[1].error
    assert error is not None and error.code == code and not error.retryable
    assert message in str(error)
    for name in fields:
        assert name in str(error)


@respx.mock
async def test_rolled_back_neighbours_report_the_real_cause():
    token_route()
    rolled = failure("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back")
    real = failure("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"])
    real["errors"] = rolled["errors"] + real["errors"]
    respx.patch(UPSERT).respond(json=[real])
    adapter = await opened()
    try:
        [result] = await adapter.upsert(Entity.CUSTOMER, writes(1))
    finally:
        await adapter.close()
    assert result.error is not None and result.error.code == "REQUIRED_FIELD_MISSING"


@respx.mock
async def test_a_batch_refused_whole_is_bisected_to_the_bad_record():
    token_route()

    def answer(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)["records"]
        if any(r["Name"] == "Co 2" for r in records):
            return httpx.Response(
                400, json=[{"message": "Cannot deserialize", "errorCode": "JSON_PARSER_ERROR"}]
            )
        return httpx.Response(200, json=[ok(i) for i in range(len(records))])

    route = respx.patch(UPSERT).mock(side_effect=answer)
    adapter = await opened()
    try:
        results = await adapter.upsert(Entity.CUSTOMER, writes(5))
    finally:
        await adapter.close()
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert results[2].error is not None and results[2].error.code == "JSON_PARSER_ERROR"
    assert route.call_count <= 1 + 2 * 3


@respx.mock
async def test_an_unknown_field_is_a_configuration_error_naming_it():
    token_route()
    respx.get(f"{DATA}/query").respond(
        400,
        json=[
            {
                "message": "No such column 'Foo__c' on entity 'Account'.",
                "errorCode": "INVALID_FIELD",
            }
        ],
    )
    adapter = await opened(extra_fields={"customer": ["Foo__c"]})
    try:
        with pytest.raises(ConfigurationError, match="Foo__c"):
            await adapter.read(Entity.CUSTOMER, ["001000000000001AAA"])
    finally:
        await adapter.close()


@respx.mock
async def test_token_refusal_names_the_fix_and_not_the_secret():
    respx.post(f"{LOGIN}/services/oauth2/token").respond(
        400,
        json={"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
    )
    adapter = SalesforceAdapter("crm", settings(), registry=LimiterRegistry())
    with pytest.raises(ConfigurationError) as raised:
        await adapter.open()
    text = str(raised.value)
    assert "invalid_grant" in text and "pre-authorise" in text and "cs" not in text.split()


def test_policy_table_rows():
    def rule(status: int, body: Any) -> Resolution:
        response = httpx.Response(status, json=body)
        return SALESFORCE_POLICY.decide(status, parse_salesforce_error(response)).resolution

    concurrent = [
        {"message": "ConcurrentPerOrgLongTxn Limit exceeded", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert rule(403, concurrent) is Resolution.WAIT
    assert rule(403, [{"message": "x", "errorCode": "INSUFFICIENT_ACCESS"}]) is Resolution.FATAL
    assert rule(404, [{"message": "x", "errorCode": "NOT_FOUND"}]) is Resolution.FATAL
    assert rule(400, [{"message": "x", "errorCode": "INVALID_TYPE"}]) is Resolution.FATAL
    assert rule(400, [{"message": "x", "errorCode": "STRING_TOO_LONG"}]) is Resolution.RECORD
    assert rule(300, ["/services/data/v62.0/sobjects/Account/001"]) is Resolution.RECORD


def test_soql_is_built_from_values_never_from_text():
    from adapters.salesforce import soql

    assert soql.quote("O'Brien\\n") == "'O\\'Brien\\\\n'"
    with pytest.raises(ConfigurationError):
        soql.in_list("Name) OR (Id", ["x"])
    with pytest.raises(ConfigurationError):
        soql.select(["Id", "Name FROM User --"], "Account")
