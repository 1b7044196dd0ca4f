"""Line replacement through Composite, against respx: per-subrequest failures, a lost answer."""

from __future__ import annotations

import json
from typing import Any

import httpx
import respx

from adapters.salesforce.composite import Subrequest, pack
from connector.adapter import NativeWrite
from connector.model import Entity
from tests.salesforce.test_sf_errors import DATA, opened, token_route

OPPS = ["006000000000001AAA", "006000000000002AAA"]
ENTRY = "01u000000000001AAA"


def sales() -> list[NativeWrite]:
    return [
        NativeWrite(f"s{i}", opp, {"lines": [{"ProductCode": "P-1", "Quantity": i + 1}]})
        for i, opp in enumerate(OPPS)
    ]


def query_answer(request: httpx.Request) -> httpx.Response:
    soql = request.url.params["q"]
    if "FROM PricebookEntry" in soql:
        return httpx.Response(200, json={"done": True, "totalSize": 1, "records": [
            {"Id": ENTRY, "ProductCode": "P-1"}]})  # fmt: skip
    assert "FROM OpportunityLineItem" in soql
    return httpx.Response(200, json={"done": True, "totalSize": 0, "records": []})


def describe_route() -> None:
    """A single-currency org: PricebookEntry has no CurrencyIsoCode."""
    fields = [{"name": n} for n in ("Id", "Pricebook2Id", "Product2Id", "UnitPrice")]
    respx.get(f"{DATA}/sobjects/PricebookEntry/describe").respond(json={"fields": fields})


def updated(request: httpx.Request) -> httpx.Response:
    records = json.loads(request.content)["records"]
    return httpx.Response(
        200, json=[{"id": r["id"], "success": True, "errors": []} for r in records]
    )


def test_pack_keeps_order_and_both_limits():
    subs = [Subrequest("POST", "/composite/sobjects")] * 12 + [Subrequest("GET", "/limits")] * 30
    groups = pack(subs)
    assert [len(g) for g in groups] == [5, 5, 2 + 23, 7]
    assert all(sum(s.limited for s in g) <= 5 for g in groups)
    assert [s for g in groups for s in g] == subs


@respx.mock
async def test_a_refused_subrequest_fails_only_the_sales_in_it():
    token_route()
    describe_route()
    respx.get(f"{DATA}/query").mock(side_effect=query_answer)
    respx.patch(f"{DATA}/composite/sobjects").mock(side_effect=updated)
    sent: list[dict[str, Any]] = []

    def composite(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        [create] = body["compositeRequest"]
        assert create["url"] == "/services/data/v62.0/composite/sobjects"
        assert body["allOrNone"] is False
        return httpx.Response(200, json={"compositeResponse": [{
            "referenceId": create["referenceId"], "httpStatusCode": 503, "httpHeaders": {},
            "body": [{"errorCode": "SERVER_UNAVAILABLE", "message": "maintenance"}]}]})  # fmt: skip

    respx.post(f"{DATA}/composite").mock(side_effect=composite)
    adapter = await opened()
    try:
        results = await adapter.upsert(Entity.SALE, sales())
    finally:
        await adapter.close()
    assert len(sent) == 1, "both sales' lines travel in one Composite call"
    assert all(r.error is not None and r.error.retryable for r in results)
    assert "SERVER_UNAVAILABLE" in str(results[0].error)


@respx.mock
async def test_a_lost_composite_answer_replaces_the_lines_again_from_a_fresh_read():
    token_route()
    describe_route()
    reads = respx.get(f"{DATA}/query").mock(side_effect=query_answer)
    respx.patch(f"{DATA}/composite/sobjects").mock(side_effect=updated)
    attempts: list[int] = []

    def composite(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        [create] = json.loads(request.content)["compositeRequest"]
        results = [{"id": f"00k00000000000{i}AAA", "success": True, "errors": []}
                   for i in range(2)]  # fmt: skip
        return httpx.Response(200, json={"compositeResponse": [{
            "referenceId": create["referenceId"], "httpStatusCode": 200, "httpHeaders": {},
            "body": results}]})  # fmt: skip

    respx.post(f"{DATA}/composite").mock(side_effect=composite)
    adapter = await opened()
    try:
        results = await adapter.upsert(Entity.SALE, sales())
    finally:
        await adapter.close()
    assert all(r.ok for r in results)
    assert len(attempts) == 2
    line_reads = [c for c in reads.calls if "OpportunityLineItem" in c.request.url.params["q"]]
    assert len(line_reads) == 2, "the second replacement starts from a fresh read of the lines"


@respx.mock
async def test_a_composite_refused_whole_fails_the_sales_for_their_lines_and_keeps_their_ids():
    token_route()
    describe_route()
    respx.get(f"{DATA}/query").mock(side_effect=query_answer)
    respx.patch(f"{DATA}/composite/sobjects").mock(side_effect=updated)
    refused = [{"errorCode": "INVALID_INPUT", "message": "too many subrequests"}]
    respx.post(f"{DATA}/composite").respond(400, json=refused)
    adapter = await opened()
    try:
        results = await adapter.upsert(Entity.SALE, sales())
    finally:
        await adapter.close()
    assert [r.external_id for r in results] == OPPS, "the sales are written: they keep their ids"
    assert all(r.error is not None and r.error.code == "INVALID_INPUT" for r in results)
    assert not any(r.error.retryable for r in results if r.error is not None)
