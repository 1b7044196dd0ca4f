"""Large first pulls through Bulk API 2.0 query jobs: against the sandbox and respx."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import respx

from adapters.salesforce.bulk_query import typed_row
from connector.adapter import NativeWrite
from connector.model import Entity
from tests.salesforce.test_sf_errors import DATA, opened, token_route


def varied(n: int) -> list[NativeWrite]:
    return [
        NativeWrite(
            f"k{i}",
            None,
            {
                "Name": f"Co {i}",
                "ERP_Customer_No__c": f"C{i}",
                "NumberOfEmployees": i or None,
                "ERP_Lifetime_Revenue__c": i * 10.5,
                "ERP_Last_Order_Date__c": "2026-11-30",
                "Description": 'a, "quoted"\nline' if i % 7 == 0 else None,
            },
        )
        for i in range(n)
    ]


async def pull(adapter, entity: Entity = Entity.CUSTOMER):
    return [r async for page in adapter.read_changes(entity, None) for r in page.records]


async def test_a_large_first_pull_is_one_query_job_and_reads_as_rest_does(make_adapter, sandbox):
    bulk = await make_adapter(bulk_query_threshold=100, bulk_query_page=40)
    rest = await make_adapter(bulk_query_threshold=None)
    rep = sandbox.options.reps[0][0]
    writes = varied(130)
    writes[3].fields["Owner"] = {"Email": rep}
    assert all(r.ok for r in await bulk.upsert(Entity.CUSTOMER, writes))
    sandbox.log.clear()
    through_bulk = await pull(bulk)
    paths = [(e["method"], e["path"].split("/v62.0")[-1]) for e in sandbox.log]
    assert paths.count(("POST", "/jobs/query")) == 1
    results = [p for p in paths if p[1].endswith("/results")]
    assert len(results) == 4, "130 rows in pages of 40 follow Sforce-Locator to the end"
    assert not [p for p in paths if p[1] == "/query" and p[0] == "GET"][1:], "only the COUNT()"
    through_rest = await pull(rest)
    assert [r.id for r in through_bulk] == [r.id for r in through_rest]
    assert [(r.updated_at, r.id) for r in through_bulk] == sorted(
        (r.updated_at, r.id) for r in through_bulk
    )
    for left, right in zip(through_bulk, through_rest, strict=True):
        assert left.fields == right.fields
    owned = next(r for r in through_bulk if r.fields["Connector_Key__c"] == "k3")
    assert owned.fields["Owner"] == {"Email": rep}


async def test_a_pull_below_the_threshold_or_an_incremental_one_stays_on_rest(
    make_adapter, sandbox
):
    adapter = await make_adapter(bulk_query_threshold=100)
    await adapter.upsert(Entity.CUSTOMER, varied(99))
    sandbox.log.clear()
    assert len(await pull(adapter)) == 99
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert len([r async for p in adapter.read_changes(Entity.CUSTOMER, since) for r in p.records])
    assert not [e for e in sandbox.log if "/jobs/query" in e["path"]]


async def test_sales_pulled_in_bulk_carry_their_lines(make_adapter, sandbox):
    sandbox.add_product("P-1", "Pump", 10)
    adapter = await make_adapter(bulk_query_threshold=3)
    [account] = await adapter.upsert(Entity.CUSTOMER, varied(1))
    sales = [
        NativeWrite(f"s{i}", None, {"Name": f"S{i}", "StageName": "Closed Won",
                                    "CloseDate": "2026-12-01", "AccountId": account.external_id,
                                    "lines": [{"ProductCode": "P-1", "Quantity": i + 1}]})
        for i in range(4)
    ]  # fmt: skip
    assert all(r.ok for r in await adapter.upsert(Entity.SALE, sales))
    records = await pull(adapter, Entity.SALE)
    assert len(records) == 4 and any("/jobs/query" in e["path"] for e in sandbox.log)
    assert sorted(r.fields["lines"][0]["Quantity"] for r in records) == [1, 2, 3, 4]
    assert all(r.fields["StageOutcome"] == "won" and r.fields["IsWon"] is True for r in records)


def test_csv_cells_are_typed_back():
    types = {"IsWon": "boolean", "NumberOfEmployees": "int", "Amount": "currency",
             "SystemModstamp": "datetime", "Name": "string"}  # fmt: skip
    row = typed_row(
        {"IsWon": "false", "NumberOfEmployees": "12", "Amount": "10.5", "Name": "",
         "SystemModstamp": "2026-12-05T21:00:00.000Z", "Owner.Email": "a@b.example"},
        types,
    )  # fmt: skip
    assert row == {"IsWon": False, "NumberOfEmployees": 12, "Amount": 10.5, "Name": None,
                   "SystemModstamp": "2026-12-05T21:00:00.000+0000",
                   "Owner": {"Email": "a@b.example"}}  # fmt: skip
    assert typed_row({"Owner.Email": ""}, {}) == {"Owner": None}
    assert Decimal(str(typed_row({"Amount": "3"}, types)["Amount"])) == 3


@respx.mock
async def test_query_job_polls_and_follows_the_locator_until_null():
    token_route()
    respx.get(f"{DATA}/query").respond(json={"totalSize": 5, "done": True, "records": []})
    respx.get(f"{DATA}/sobjects/Account/describe").respond(
        json={"fields": [{"name": "Id", "type": "id"}, {"name": "SystemModstamp",
                                                          "type": "datetime"}]}
    )  # fmt: skip
    created = respx.post(f"{DATA}/jobs/query").respond(
        json={"id": "750000000000001AAA", "state": "UploadComplete"}
    )
    job = f"{DATA}/jobs/query/750000000000001AAA"
    polls = respx.get(job).mock(
        side_effect=[
            httpx.Response(200, json={"state": "UploadComplete"}),
            httpx.Response(200, json={"state": "InProgress"}),
            httpx.Response(200, json={"state": "JobComplete"}),
        ]
    )
    header = "Id,SystemModstamp\n"

    def page(request: httpx.Request) -> httpx.Response:
        locator = request.url.params.get("locator")
        if locator is None:
            rows = "001000000000002AAA,2026-12-05T10:00:00.000Z\n"
            return httpx.Response(200, text=header + rows, headers={"Sforce-Locator": "L2"})
        assert locator == "L2"
        rows = "001000000000001AAA,2026-12-05T10:00:00.000Z\n"
        return httpx.Response(200, text=header + rows, headers={"Sforce-Locator": "null"})

    results = respx.get(f"{job}/results").mock(side_effect=page)
    adapter = await opened(bulk_query_threshold=5, extra_fields={})
    try:
        records = [r async for p in adapter.read_changes(Entity.CUSTOMER, None) for r in p.records]
    finally:
        await adapter.close()
    assert [r.id for r in records] == ["001000000000001AAA", "001000000000002AAA"]
    assert created.call_count == 1 and polls.call_count == 3 and results.call_count == 2
    body = created.calls[0].request.content.decode()
    assert '"operation":"query"' in body.replace(" ", "") and "ORDER BY" not in body
