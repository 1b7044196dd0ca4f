"""The Salesforce sandbox against the documented API shapes (salesforce.md), in process."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from adapters.salesforce.sandbox import Sandbox, SandboxOptions, create_app
from adapters.salesforce.sandbox.soql import SoqlError, parse

V = "/services/data/v62.0"


@pytest.fixture
async def api():
    sandbox = Sandbox(SandboxOptions(seed_demo_accounts=False))
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://sf.test") as client:
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
        assert token["instance_url"] == "http://sf.test" and "expires_in" not in token
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        client.sandbox = sandbox  # type: ignore[attr-defined]
        yield client


def records(n: int, key: str = "Connector_Key__c") -> list[dict]:
    return [{"attributes": {"type": "Account"}, key: f"k{i}", "Name": f"Co {i}"} for i in range(n)]


async def test_collections_take_200_and_refuse_the_201st(api):
    path = f"{V}/composite/sobjects/Account/Connector_Key__c"
    too_many = await api.patch(path, json={"allOrNone": False, "records": records(201)})
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    answer = await api.patch(path, json={"allOrNone": False, "records": records(200)})
    assert answer.status_code == 200 and all(r["created"] for r in answer.json())
    again = await api.patch(path, json={"allOrNone": False, "records": records(2)})
    assert [r["created"] for r in again.json()] == [False, False]
    assert "api-usage=" in answer.headers["Sforce-Limit-Info"]


async def test_all_or_none_rolls_back_the_good_records(api):
    path = f"{V}/composite/sobjects/Account/Connector_Key__c"
    batch = [*records(2), {"attributes": {"type": "Account"}, "Connector_Key__c": "x"}]
    answer = (await api.patch(path, json={"allOrNone": True, "records": batch})).json()
    codes = [r["errors"][0]["statusCode"] for r in answer]
    assert codes == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"] * 2 + ["REQUIRED_FIELD_MISSING"]
    assert not list(api.sandbox.org.live("Account"))


async def test_upsert_by_external_id_300_on_several_matches_404_on_unknown_field(api):
    for name in ("A", "B"):
        await api.post(f"{V}/sobjects/Account", json={"Name": name, "AccountNumber": "dup"})
    created = await api.patch(f"{V}/sobjects/Account/ERP_Customer_No__c/C-1", json={"Name": "X"})
    assert created.status_code == 201 and created.json()["created"] is True
    updated = await api.patch(f"{V}/sobjects/Account/ERP_Customer_No__c/C-1", json={"Name": "Y"})
    assert updated.status_code == 200 and updated.json()["created"] is False
    missing = await api.patch(f"{V}/sobjects/Account/Nope__c/1", json={"Name": "Z"})
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    api.sandbox.org.rows["Account"]  # two rows may share a non-unique external id in a real org
    spec = api.sandbox.org.schema["Account"]
    from dataclasses import replace

    spec.add(replace(spec.fields["AccountNumber"], external_id=True))
    several = await api.patch(f"{V}/sobjects/Account/AccountNumber/dup", json={"Name": "Q"})
    assert several.status_code == 300 and len(several.json()) == 2


async def test_query_pages_with_next_records_url_and_hides_deleted_rows(api):
    path = f"{V}/composite/sobjects/Account/Connector_Key__c"
    for start in range(0, 450, 150):
        batch = [
            {"attributes": {"type": "Account"}, "Connector_Key__c": f"k{i}", "Name": f"Co {i}"}
            for i in range(start, start + 150)
        ]
        await api.patch(path, json={"allOrNone": False, "records": batch})
    soql = "SELECT Id, Name FROM Account WHERE Name LIKE 'Co%' ORDER BY Name"
    first = (
        await api.get(
            f"{V}/query", params={"q": soql}, headers={"Sforce-Query-Options": "batchSize=200"}
        )
    ).json()
    assert first["totalSize"] == 450 and not first["done"] and len(first["records"]) == 200
    rows = first["records"]
    following = first["nextRecordsUrl"]
    while following:
        page = (await api.get(following)).json()
        rows += page["records"]
        following = page.get("nextRecordsUrl")
    assert len({r["Id"] for r in rows}) == 450
    doomed = rows[0]["Id"]
    assert (await api.delete(f"{V}/sobjects/Account/{doomed}")).status_code == 204
    live = (
        await api.get(f"{V}/query", params={"q": f"SELECT Id FROM Account WHERE Id = '{doomed}'"})
    ).json()
    everything = (
        await api.get(
            f"{V}/queryAll",
            params={"q": f"SELECT Id, IsDeleted FROM Account WHERE Id = '{doomed[:15]}'"},
        )
    ).json()
    assert live["totalSize"] == 0 and everything["records"][0]["IsDeleted"] is True


async def test_soql_errors_name_the_problem(api):
    bad_field = await api.get(f"{V}/query", params={"q": "SELECT Nmae FROM Account"})
    assert (
        bad_field.json()[0]["errorCode"] == "INVALID_FIELD"
        and "Nmae" in bad_field.json()[0]["message"]
    )
    quoted = await api.get(
        f"{V}/query", params={"q": "SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01'"}
    )
    assert quoted.json()[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SoqlError):
        parse("SELECT Id FROM Account WHERE")
    query = parse("select id from account where (a = 1 or b != 'x\\'y') and c in (1, 2) limit 5")
    assert query.limit == 5 and query.sobject == "account"


async def test_daily_limit_and_sessions(api):
    api.sandbox.api_limit = api.sandbox.api_used + 1
    assert (await api.get(f"{V}/limits")).status_code == 200
    spent = await api.get(f"{V}/limits")
    assert spent.status_code == 403 and spent.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    api.sandbox.issuer.revoke_all()
    expired = await api.get(f"{V}/limits")
    assert expired.status_code == 401 and expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"


async def test_system_modstamp_moves_on_every_update_even_without_change(api):
    clock = [dt.datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=dt.UTC)]
    api.sandbox.org._clock = lambda: clock[0]
    created = (await api.post(f"{V}/sobjects/Account", json={"Name": "A"})).json()["id"]
    clock[0] += dt.timedelta(seconds=5)
    await api.patch(f"{V}/sobjects/Account/{created}", json={"Name": "A"})
    row = (await api.get(f"{V}/sobjects/Account/{created}")).json()
    assert row["SystemModstamp"] == "2026-01-01T12:00:05.000+0000"
    assert row["CreatedDate"] == "2026-01-01T12:00:00.000+0000"


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"aud": "https://evil.example"}, "audience is invalid"),
        ({"exp_offset": -600}, "expired"),
        ({"sub": "someone@else.example"}, "hasn't approved"),
        ({"iss": "other-app"}, "client identifier invalid"),
    ],
)
async def test_jwt_bearer_claims_are_checked(claims, error):
    import time

    from pydantic import SecretStr

    from adapters.salesforce.auth import jwt_assertion
    from tests.salesforce.keys import make_key_pair

    private, certificate = make_key_pair()
    sandbox = Sandbox(SandboxOptions(certificate_pem=certificate, seed_demo_accounts=False))
    assertion = jwt_assertion(
        SecretStr(private),
        issuer=claims.get("iss", "sandbox-consumer-key"),
        subject=claims.get("sub", "integration@acme-corp.example"),
        audience=claims.get("aud", "https://login.salesforce.com"),
        now=time.time() + claims.get("exp_offset", 0),
    )
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://sf.test") as client:
        answer = await client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            },
        )
    assert answer.status_code == 400 and error in answer.json()["error_description"]


async def _ingest(api, operation: str, data: str, *, close: str = "UploadComplete") -> str:
    spec = {"object": "Account", "operation": operation, "contentType": "CSV", "lineEnding": "LF"}
    if operation == "upsert":
        spec["externalIdFieldName"] = "Connector_Key__c"
    job = (await api.post(f"{V}/jobs/ingest", json=spec)).json()
    path = f"{V}/jobs/ingest/{job['id']}"
    put = await api.put(f"{path}/batches", content=data, headers={"Content-Type": "text/csv"})
    assert put.status_code == 201 and not put.content
    await api.patch(path, json={"state": close})
    for _ in range(100):
        if (await api.get(path)).json()["state"] in ("JobComplete", "Aborted", "Failed"):
            break
        await asyncio.sleep(0.01)  # the job runs in the background, as in Salesforce
    return path


async def test_bulk_failed_results_name_the_record_of_an_update(api):
    """Bulk API 2.0 "Get Job Failed Record Results": `sf__Id` is the ID of the record that
    had an error (v53.0+), `sf__Error` the code and message, then the uploaded columns."""
    path = await _ingest(api, "update", "Id,Name\n001000000000404AAA,Gone\n")
    failed = await api.get(f"{path}/failedResults/")
    header, row = failed.text.splitlines()
    assert header == "sf__Id,sf__Error,Id,Name"
    assert row.startswith("001000000000404AAA,") and row.endswith(",001000000000404AAA,Gone")
    assert failed.headers["content-type"].startswith("text/csv")


async def test_bulk_unprocessed_records_of_an_aborted_job(api):
    """Bulk API 2.0 "Get Job Unprocessed Record Results": the uploaded columns of the rows the
    job did not process — every row of a job aborted before processing."""
    path = await _ingest(api, "upsert", "Name,Connector_Key__c\nA,k1\nB,k2\n", close="Aborted")
    rows = (await api.get(f"{path}/unprocessedrecords/")).text.splitlines()
    assert rows == ["Name,Connector_Key__c", "A,k1", "B,k2"]


async def test_bulk_job_with_an_unknown_column_fails_whole(api):
    """A header column naming no field fails the job before any row: `Failed`, `errorMessage`
    `InvalidBatch : Field name not found : …` (a real job info, amp-labs/connectors PR #118)."""
    path = await _ingest(api, "upsert", "Name,Connector_Key__c,Typo__c\nA,k1,x\n")
    info = (await api.get(path)).json()
    assert info["state"] == "Failed" and info["numberRecordsProcessed"] == 0
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Typo__c"
    assert (await api.get(f"{path}/unprocessedrecords/")).text.splitlines()[1] == "A,k1,x"
