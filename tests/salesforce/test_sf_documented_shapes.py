"""The adapter's requests against Salesforce's documented shapes, with respx (no sandbox).

Each test pins one request or answer as Salesforce's own documentation writes it (the page is
named in the docstring), independently of our sandbox: where the sandbox and the adapter shared
a misreading, the sandbox tests would pass anyway. BEHAVIOR.md, "Checked against the
documentation (2026-12-05)", lists every request and its verdict.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from adapters.salesforce import soql
from adapters.salesforce.adapter import SalesforceAdapter
from adapters.salesforce.client import share_parser
from adapters.salesforce.sandbox.soql import tokenize
from adapters.salesforce.settings import SalesforceSettings
from connector.adapter import NativeWrite
from connector.http import LimiterRegistry
from connector.model import Entity
from tests.salesforce.keys import make_key_pair

MY_DOMAIN = "https://acme.my.salesforce.com"
DATA = f"{MY_DOMAIN}/services/data/v62.0"


def _settings(login_url: str, auth: dict[str, Any], **overrides: Any) -> SalesforceSettings:
    return SalesforceSettings.model_validate({"login_url": login_url, "auth": auth, **overrides})


def _client_credentials() -> dict[str, Any]:
    return {"kind": "client_credentials", "client_id": "ck", "client_secret": "cs"}


def _token_route(login_url: str) -> respx.Route:
    return respx.post(f"{login_url}/services/oauth2/token").respond(
        json={
            "access_token": "tok",
            "instance_url": MY_DOMAIN,
            "id": f"{login_url}/id/00D000000000001AAA/005000000000001AAA",
            "token_type": "Bearer",
        }
    )


async def _no_sleep(seconds: float) -> None:
    return None


# -- Sforce-Limit-Info ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)",
        "per-app-api-usage=17/250(appName=sample-connected-app); api-usage=25/5000",
        "api-usage=25/5000; api-bursts=1/750",
        "api-usage=25/5000",
    ],
)
def test_limit_info_reads_the_orgs_usage_not_a_connected_apps(header: str) -> None:
    """REST API Developer Guide, "Limit Info Header": `api-usage=25/5000;
    per-app-api-usage=17/250(appName=sample-connected-app)` and `api-usage=10018/100000;
    api-bursts=1/750`. The per-app quota must not be read as the org's, whatever the order."""
    hint = share_parser(0.5)(httpx.Headers({"Sforce-Limit-Info": header}))
    assert hint is not None
    assert (hint.remaining, hint.limit) == (2500 - 25, 2500)


# -- SOQL string literals -----------------------------------------------------------------------


def test_soql_quotes_every_documented_escape_and_the_sandbox_reads_it_back() -> None:
    """SOQL and SOSL Reference, "Quoted String Escape Sequences": \\n \\r \\t \\b \\f \\" \\'
    \\\\ — a backspace or form feed goes escaped, not raw, into the query."""
    value = "a'b\"c\\d\ne\rf\tg\bh\fi"
    literal = soql.quote(value)
    assert literal == "'a\\'b\\\"c\\\\d\\ne\\rf\\tg\\bh\\fi'"
    assert not any(c in literal for c in "\n\r\t\b\f")
    [token] = [
        t for t in tokenize(f"SELECT Id FROM Account WHERE Name = {literal}") if t.kind == "value"
    ]
    assert token.value == value


# -- OAuth hosts and the JWT audience -------------------------------------------------------------


@pytest.mark.parametrize("host", ["https://login.salesforce.com", "https://test.salesforce.com"])
def test_client_credentials_refuse_the_generic_login_hosts(host: str) -> None:
    """Salesforce Help 000886201 ("Migrate from OAuth Username-Password to Client Credentials
    Flow"): the client credentials flow doesn't support login.salesforce.com or
    test.salesforce.com; the token request goes to the org's My Domain login URL."""
    with pytest.raises(ValidationError, match="My Domain"):
        _settings(host, _client_credentials())
    assert _settings(MY_DOMAIN, _client_credentials()).login_url == MY_DOMAIN


def _claims(assertion: str) -> dict[str, Any]:
    payload = assertion.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        (MY_DOMAIN, "https://login.salesforce.com"),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
    ],
)
@respx.mock
async def test_jwt_audience_is_test_for_a_sandbox_org(login_url: str, audience: str) -> None:
    """Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration", with the
    `aud` values public JWT clients document for it (salesforce-jwt-bearer-token-flow README):
    https://login.salesforce.com, or https://test.salesforce.com for a sandbox; the form is
    `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…` to
    `/services/oauth2/token`."""
    private_pem, _ = make_key_pair()
    route = _token_route(login_url)
    auth = {
        "kind": "jwt",
        "client_id": "ck",
        "username": "int@acme.example",
        "private_key": private_pem,
    }
    adapter = SalesforceAdapter(
        "crm", _settings(login_url, auth), registry=LimiterRegistry(), sleep=_no_sleep
    )
    await adapter.open()
    await adapter.close()
    form = dict(httpx.QueryParams(route.calls.last.request.content.decode()))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = _claims(form["assertion"])
    assert claims["aud"] == audience
    assert (claims["iss"], claims["sub"]) == ("ck", "int@acme.example")
    explicit = {**auth, "audience": "https://acme.my.site.com/customers"}
    assert _settings(login_url, explicit).auth.audience == "https://acme.my.site.com/customers"


# -- API version ---------------------------------------------------------------------------------


def test_api_version_is_at_least_the_one_every_request_needs() -> None:
    """Collections upsert is v46.0+, Bulk API 2.0 query jobs v47.0+, and Composite's
    `collateSubrequests` (which the adapter sends) "Available in API version 48.0 and later"
    (REST API Developer Guide, "Composite Request Body")."""
    for old in ("v46.0", "47.0"):
        with pytest.raises(ValidationError, match=r"v48\.0"):
            _settings(MY_DOMAIN, _client_credentials(), api_version=old)
    assert _settings(MY_DOMAIN, _client_credentials(), api_version="48").api_version == "v48.0"


# -- Collections delete and Bulk API 2.0 ingest (verdict: matches) --------------------------------


@respx.mock
async def test_collections_delete_sends_ids_and_all_or_none_as_query_parameters() -> None:
    """REST API Developer Guide, "Delete Records Using sObject Collections": `DELETE
    /services/data/vXX.X/composite/sobjects?ids=recordId,recordId` with optional `allOrNone`
    (default false); DeleteResults come back in the order of the ids."""
    _token_route(MY_DOMAIN)
    ids = ["001000000000001AAA", "001000000000002AAA"]
    route = respx.delete(f"{DATA}/composite/sobjects").respond(
        json=[
            {"id": ids[0], "success": True, "errors": []},
            {
                "success": False,
                "errors": [
                    {
                        "statusCode": "ENTITY_IS_DELETED",
                        "message": "entity is deleted",
                        "fields": [],
                    }
                ],
            },
        ]
    )
    adapter = SalesforceAdapter(
        "crm", _settings(MY_DOMAIN, _client_credentials()), registry=LimiterRegistry(),
        sleep=_no_sleep,
    )  # fmt: skip
    await adapter.open()
    try:
        results = await adapter.delete(Entity.CUSTOMER, ids)
    finally:
        await adapter.close()
    assert all(r.ok for r in results)  # already deleted is what was asked
    params = route.calls.last.request.url.params
    assert params["ids"] == ",".join(ids) and params["allOrNone"] == "false"
    assert not route.calls.last.request.content


@respx.mock
async def test_bulk_ingest_follows_the_documented_job_lifecycle() -> None:
    """Bulk API 2.0 Developer Guide: "Create a Job" (`object`, `operation`,
    `externalIdFieldName`, `contentType: CSV`, `lineEnding`, `columnDelimiter`), "Upload Job
    Data" (`PUT …/batches`, `Content-Type: text/csv`, 201), "Upload Complete" (`PATCH`
    `{"state": "UploadComplete"}`), "Get Job Successful Record Results" (`sf__Id`,
    `sf__Created`, the uploaded columns) and "Get Job Failed Record Results" (`sf__Id`,
    `sf__Error`, the uploaded columns)."""
    _token_route(MY_DOMAIN)
    job = f"{DATA}/jobs/ingest/7505g000000AbCdAAK"
    create = respx.post(f"{DATA}/jobs/ingest").respond(
        json={"id": "7505g000000AbCdAAK", "state": "Open"}
    )
    upload = respx.put(f"{job}/batches").respond(201)
    close = respx.patch(job).respond(json={"id": "7505g000000AbCdAAK", "state": "UploadComplete"})
    respx.get(job).respond(json={"id": "7505g000000AbCdAAK", "state": "JobComplete"})
    respx.get(f"{job}/successfulResults/").respond(
        text="sf__Id,sf__Created,Name,Connector_Key__c\n001000000000001AAA,true,Co 0,k0\n",
        headers={"Content-Type": "text/csv"},
    )
    respx.get(f"{job}/failedResults/").respond(
        text='sf__Id,sf__Error,Name,Connector_Key__c\n,"REQUIRED_FIELD_MISSING:Required fields '
        'are missing: [Name]:Name --",,k1\n',
        headers={"Content-Type": "text/csv"},
    )
    adapter = SalesforceAdapter(
        "crm", _settings(MY_DOMAIN, _client_credentials(), bulk_threshold=2, write_batch=10),
        registry=LimiterRegistry(), sleep=_no_sleep,
    )  # fmt: skip
    await adapter.open()
    writes = [NativeWrite("k0", None, {"Name": "Co 0"}), NativeWrite("k1", None, {"Name": None})]
    try:
        done, failed = await adapter.upsert(Entity.CUSTOMER, writes)
    finally:
        await adapter.close()
    assert json.loads(create.calls.last.request.content) == {
        "object": "Account",
        "operation": "upsert",
        "externalIdFieldName": "Connector_Key__c",
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    sent = upload.calls.last.request
    assert sent.headers["Content-Type"] == "text/csv"
    assert sent.content.decode() == "Name,Connector_Key__c\nCo 0,k0\n#N/A,k1\n"
    assert json.loads(close.calls.last.request.content) == {"state": "UploadComplete"}
    assert done.ok and done.created and done.external_id == "001000000000001AAA"
    assert failed.error is not None and failed.error.code == "REQUIRED_FIELD_MISSING"


# -- Outbound Messages ---------------------------------------------------------------------------

OUTBOUND_NS = "{http://soap.sforce.com/2005/09/outbound}"
SOAP_NS = "{http://schemas.xmlsoap.org/soap/envelope/}"


def test_outbound_message_and_ack_follow_the_wsdl() -> None:
    """SOAP API Developer Guide, "Understanding the Outbound Messaging WSDL": `notifications`
    (namespace http://soap.sforce.com/2005/09/outbound) is the sequence OrganizationId,
    ActionId, SessionId (nillable), EnterpriseUrl, PartnerUrl, Notification (up to 100, each
    an Id and an sObject typed `sf:Account`… in urn:sobject.enterprise.soap.sforce.com); the
    acknowledgement is `notificationsResponse` with `Ack` true, in the same namespace."""
    import datetime as dt
    import xml.etree.ElementTree as ET

    from adapters.salesforce.sandbox.outbound import envelope
    from adapters.salesforce.webhooks import OutboundMessageVerifier
    from connector.adapter import WebhookRequest

    org = "00D5g000008aBcDEAU"
    body = envelope(org, [("04l000000000001AAA", "Account", "001000000000001AAA")])
    notifications = ET.fromstring(body).find(f"{SOAP_NS}Body/{OUTBOUND_NS}notifications")
    assert notifications is not None
    assert [child.tag.removeprefix(OUTBOUND_NS) for child in notifications] == [
        "OrganizationId", "ActionId", "SessionId", "EnterpriseUrl", "PartnerUrl", "Notification",
    ]  # fmt: skip
    verifier = OutboundMessageVerifier(org)
    request = WebhookRequest("POST", "/webhooks/crm", {"content-type": "text/xml; charset=utf-8"},
                             body, dt.datetime.now(dt.UTC))  # fmt: skip
    [hint] = verifier.verify(request)
    assert (hint.entity, hint.external_id, hint.event_id) == (
        Entity.CUSTOMER,
        "001000000000001AAA",
        "04l000000000001AAA",
    )
    ack, content_type = verifier.acknowledgement()
    assert content_type == "text/xml"
    answer = ET.fromstring(ack).find(
        f"{SOAP_NS}Body/{OUTBOUND_NS}notificationsResponse/{OUTBOUND_NS}Ack"
    )
    assert answer is not None and answer.text == "true"


@respx.mock
async def test_a_bulk_job_failed_as_invalid_batch_stops_instead_of_repeating() -> None:
    """A Bulk API 2.0 job whose header names an unknown field ends `Failed` with
    `errorMessage: "InvalidBatch : Field name not found : ContactId__c"` and nothing processed
    (a real job info quoted in amp-labs/connectors PR #118; "Job States": Failed = "The job
    couldn't be processed successfully"). Running it again would fail again: a configuration
    error naming the field, one job only."""
    from connector.errors import ConfigurationError

    _token_route(MY_DOMAIN)
    job = f"{DATA}/jobs/ingest/7505g000000AbCdAAK"
    create = respx.post(f"{DATA}/jobs/ingest").respond(
        json={"id": "7505g000000AbCdAAK", "state": "Open"}
    )
    respx.put(f"{job}/batches").respond(201)
    respx.patch(job).respond(json={"id": "7505g000000AbCdAAK", "state": "UploadComplete"})
    failed = {
        "id": "7505g000000AbCdAAK",
        "state": "Failed",
        "numberRecordsProcessed": 0,
        "errorMessage": "InvalidBatch : Field name not found : Typo__c",
    }
    respx.get(job).respond(json=failed)
    adapter = SalesforceAdapter(
        "crm", _settings(MY_DOMAIN, _client_credentials(), bulk_threshold=2, write_batch=10),
        registry=LimiterRegistry(), sleep=_no_sleep,
    )  # fmt: skip
    await adapter.open()
    writes = [NativeWrite(f"k{i}", None, {"Name": f"Co {i}", "Typo__c": "x"}) for i in range(2)]
    try:
        with pytest.raises(ConfigurationError, match="Field name not found : Typo__c"):
            await adapter.upsert(Entity.CUSTOMER, writes)
    finally:
        await adapter.close()
    assert create.call_count == 1
