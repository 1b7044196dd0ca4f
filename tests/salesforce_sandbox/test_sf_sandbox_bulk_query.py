"""The sandbox's Bulk API 2.0 query jobs and COUNT() against their documented shapes."""

from __future__ import annotations

import csv
import io

from tests.salesforce_sandbox.test_sf_sandbox import V, api, records

__all__ = ["api"]


async def test_query_job_lifecycle_and_locator_paging(api):
    path = f"{V}/composite/sobjects/Account/Connector_Key__c"
    await api.patch(path, json={"allOrNone": False, "records": records(5)})
    count = (await api.get(f"{V}/query", params={"q": "SELECT COUNT() FROM Account"})).json()
    assert count == {"totalSize": 5, "done": True, "records": []}
    job = (
        await api.post(
            f"{V}/jobs/query",
            json={"operation": "query", "query": "SELECT Id, Name, Owner.Email FROM Account"},
        )
    ).json()
    assert job["state"] == "UploadComplete"
    early = await api.get(f"{V}/jobs/query/{job['id']}/results")
    assert early.status_code == 409
    states = [(await api.get(f"{V}/jobs/query/{job['id']}")).json()["state"] for _ in range(2)]
    assert states == ["InProgress", "JobComplete"]
    rows, locator, pages = [], None, 0
    while locator != "null":
        params = {"maxRecords": 2, **({"locator": locator} if locator else {})}
        page = await api.get(f"{V}/jobs/query/{job['id']}/results", params=params)
        assert page.headers["content-type"].startswith("text/csv")
        found = list(csv.DictReader(io.StringIO(page.text)))
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(found)
        rows += found
        locator, pages = page.headers["Sforce-Locator"], pages + 1
    assert pages == 3 and sorted(r["Name"] for r in rows) == [f"Co {i}" for i in range(5)]
    assert set(rows[0]) == {"Id", "Name", "Owner.Email"}
    assert all(r["Owner.Email"].startswith("integration@") for r in rows)


async def test_a_bad_query_refuses_the_job(api):
    bad = await api.post(
        f"{V}/jobs/query", json={"operation": "query", "query": "SELECT Nope FROM Account"}
    )
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    aggregate = await api.post(
        f"{V}/jobs/query", json={"operation": "query", "query": "SELECT COUNT() FROM Account"}
    )
    assert aggregate.status_code == 400
