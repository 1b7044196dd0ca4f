"""Batch writes: 207 split, dedupe, associations with directional type ids, line items."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import httpx
import respx

from adapters.hubspot.associations import TYPE_IDS, type_id
from adapters.hubspot.writes import (
    plan_rounds,
    split_batch_response,
    split_fields,
    to_hubspot_value,
)
from connector.adapter import NativeWrite
from connector.model import Entity

from .conftest import BASE

V3 = f"{BASE}/crm/v3/objects"
V4 = f"{BASE}/crm/v4/associations"


def attached(deal_id: str, *line_ids: int) -> httpx.Response:
    """A v4 batch read answer: the deal's line items (type 19, deal → line item)."""
    targets = [{"toObjectId": i, "associationTypes": [{"typeId": 19}]} for i in line_ids]
    return httpx.Response(200, json={"results": [{"from": {"id": deal_id}, "to": targets}]})


def test_type_ids_follow_the_documented_directions():
    assert type_id("contacts", "companies") == 279
    assert type_id("contacts", "companies", primary=True) == 1
    assert type_id("companies", "contacts") == 280
    assert type_id("deals", "companies", primary=True) == 5
    assert type_id("deals", "companies") == 341
    assert type_id("deals", "contacts") == 3 and type_id("contacts", "deals") == 4
    assert type_id("line_items", "deals") == 20 and type_id("deals", "line_items") == 19
    assert len(TYPE_IDS) == 8


def test_values_are_sent_as_hubspot_strings():
    assert to_hubspot_value(Decimal("1250.50")) == "1250.50"
    assert to_hubspot_value(True) == "true"
    assert to_hubspot_value(None) == ""
    assert to_hubspot_value(dt.date(2020, 1, 1)) == "1577836800000"
    assert to_hubspot_value(["a", "b"]) == "a;b"


def test_split_fields_separates_properties_from_associations_and_lines():
    split = split_fields(
        {
            "name": "Acme",
            "numberofemployees": 12,
            "erp_last_order_date": None,
            "associations": {"company": 7, "contact": ""},
            "associations.deal": "9",
            "lines": [{"quantity": Decimal("2.0"), "name": "Bolt", "sku": None}],
            "odd.name": True,
        }
    )
    assert split.properties == {
        "name": "Acme",
        "numberofemployees": "12",
        "erp_last_order_date": "",
        "odd.name": "true",
    }
    assert split.associations == {"company": "7", "contact": None, "deal": "9"}
    assert split.lines == [{"quantity": "2.0", "name": "Bolt"}]
    assert split_fields({"name": "A"}).associations is None
    assert split_fields({"name": "A"}).lines is None


def test_plan_rounds_merges_same_key_and_separates_same_record():
    writes = [
        NativeWrite("a", None, {"name": "A1", "phone": "1"}),
        NativeWrite("b", "77", {"name": "B"}),
        NativeWrite("a", None, {"name": "A2"}),
        NativeWrite("c", "77", {"name": "C"}),
    ]
    rounds = plan_rounds(writes)
    assert [[w.key for w in r] for r in rounds] == [["a", "b"], ["c"]]
    assert rounds[0][0].fields == {"name": "A2", "phone": "1"}


def test_207_is_split_per_record_by_trace_id():
    writes = [NativeWrite(k, None, {}) for k in ("k1", "k2", "k3")]
    body = {
        "status": "COMPLETE",
        "results": [
            {"id": "11", "new": True, "objectWriteTraceId": "k1", "properties": {}},
            {"id": "13", "new": False, "properties": {"connector_key": "k3"}},
        ],
        "numErrors": 1,
        "errors": [
            {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "Property values were not valid",
                "context": {"objectWriteTraceId": ["k2"]},
            }
        ],
    }
    results = split_batch_response(writes, body)
    assert results["k1"].ok and results["k1"].external_id == "11" and results["k1"].created
    assert results["k3"].ok and not results["k3"].created
    assert results["k2"].error is not None and results["k2"].error.code == "VALIDATION_ERROR"
    assert "not valid" in str(results["k2"].error)


def test_a_result_with_a_foreign_or_numeric_trace_id_is_matched_as_before():
    writes = [NativeWrite(k, "9" if k == "k3" else None, {}) for k in ("k1", "7", "k3")]
    body = {
        "results": [
            {"id": "11", "objectWriteTraceId": "other", "properties": {"connector_key": "k1"}},
            {"id": "12", "objectWriteTraceId": 7, "properties": {}},
            {"id": "9", "properties": {}},
            {"id": "99", "objectWriteTraceId": "nobody", "properties": {}},
        ]
    }
    results = split_batch_response(writes, body)
    assert [(k, r.external_id, r.ok) for k, r in results.items()] == [
        ("k1", "11", True),
        ("7", "12", True),
        ("k3", "9", True),
    ]


def test_a_write_with_no_result_is_a_retryable_failure_not_a_success():
    results = split_batch_response([NativeWrite("k1", None, {})], {"results": []})
    assert results["k1"].error is not None and results["k1"].error.retryable


@respx.mock
async def test_upsert_207_one_bad_record_does_not_fail_its_99_neighbours(adapter):
    def server(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        assert len(inputs) <= 100
        assert all(i["idProperty"] == "connector_key" for i in inputs)
        good = [i for i in inputs if i["properties"]["name"] != "bad"]
        bad = [i for i in inputs if i["properties"]["name"] == "bad"]
        return httpx.Response(
            207,
            json={
                "status": "COMPLETE",
                "results": [
                    {
                        "id": str(5000 + n),
                        "new": True,
                        "properties": i["properties"],
                        "objectWriteTraceId": i["objectWriteTraceId"],
                    }
                    for n, i in enumerate(good)
                ],
                "numErrors": len(bad),
                "errors": [
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": "name is bad",
                        "context": {"objectWriteTraceId": [i["objectWriteTraceId"]]},
                    }
                    for i in bad
                ],
            },
        )

    route = respx.post(f"{V3}/companies/batch/upsert").mock(side_effect=server)
    writes = [
        NativeWrite(f"k{n}", None, {"name": "bad" if n == 42 else f"C{n}"}) for n in range(100)
    ]
    results = await adapter.upsert(Entity.CUSTOMER, writes)
    assert route.call_count == 1
    assert sum(r.ok for r in results) == 99
    assert results[42].error is not None and results[42].error.code == "VALIDATION_ERROR"


@respx.mock
async def test_duplicates_in_one_call_become_one_input(adapter):
    sent: list[list[dict]] = []

    def server(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        sent.append(inputs)
        return httpx.Response(
            200,
            json={
                "results": [
                    {
                        "id": "1",
                        "new": True,
                        "objectWriteTraceId": i["objectWriteTraceId"],
                        "properties": i["properties"],
                    }
                    for i in inputs
                ]
            },
        )

    respx.post(f"{V3}/companies/batch/upsert").mock(side_effect=server)
    writes = [NativeWrite("same", None, {"name": "v1"}), NativeWrite("same", None, {"name": "v2"})]
    results = await adapter.upsert(Entity.CUSTOMER, writes)
    assert len(sent) == 1 and len(sent[0]) == 1
    assert sent[0][0]["properties"] == {"name": "v2", "connector_key": "same"}
    assert [r.key for r in results] == ["same", "same"] and all(r.ok for r in results)


@respx.mock
async def test_bound_records_are_updated_by_id_and_new_ones_upserted(adapter):
    upsert = respx.post(f"{V3}/companies/batch/upsert").respond(
        json={"results": [{"id": "9", "new": True, "objectWriteTraceId": "new", "properties": {}}]}
    )
    update = respx.post(f"{V3}/companies/batch/update").respond(
        json={"results": [{"id": "7", "properties": {"connector_key": "old"}}]}
    )
    results = await adapter.upsert(
        Entity.CUSTOMER,
        [NativeWrite("new", None, {"name": "N"}), NativeWrite("old", "7", {"name": "O"})],
    )
    assert [(r.key, r.external_id, r.ok) for r in results] == [
        ("new", "9", True),
        ("old", "7", True),
    ]
    assert json.loads(update.calls[0].request.content)["inputs"][0]["id"] == "7"
    assert json.loads(upsert.calls[0].request.content)["inputs"][0]["id"] == "new"


@respx.mock
async def test_contact_company_association_uses_type_1_and_replaces_the_old_company(adapter):
    respx.post(f"{V3}/contacts/batch/update").respond(
        json={"results": [{"id": "300", "properties": {"connector_key": "c1"}}]}
    )
    create = respx.post(f"{V4}/contacts/companies/batch/create").respond(201, json={"results": []})
    read = respx.post(f"{V4}/contacts/companies/batch/read").respond(
        json={
            "results": [
                {
                    "from": {"id": "300"},
                    "to": [
                        {
                            "toObjectId": 10,
                            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279}],
                        },
                        {
                            "toObjectId": 20,
                            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 1}],
                        },
                    ],
                }
            ]
        }
    )
    archive = respx.post(f"{V4}/contacts/companies/batch/archive").respond(204)
    [result] = await adapter.upsert(
        Entity.CONTACT,
        [NativeWrite("c1", "300", {"email": "a@b.c", "associations": {"company": "20"}})],
    )
    assert result.ok
    body = json.loads(create.calls[0].request.content)
    assert body == {
        "inputs": [
            {
                "from": {"id": "300"},
                "to": {"id": "20"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
            }
        ]
    }
    assert read.called
    assert json.loads(archive.calls[0].request.content) == {
        "inputs": [{"from": {"id": "300"}, "to": [{"id": "10"}]}]
    }


def line_items(*items: tuple[int, dict[str, str]]) -> httpx.Response:
    """A `line_items/batch/read` answer: the line items with their properties."""
    results = [{"id": str(i), "properties": props} for i, props in items]
    return httpx.Response(200, json={"status": "COMPLETE", "results": results})


def deal_saved(*line_item: tuple[int, dict[str, str]]) -> None:
    """Deal 900 saved; with `line_item`, it has that one line item attached."""
    respx.post(f"{V3}/deals/batch/upsert").respond(
        json={
            "results": [{"id": "900", "new": False, "objectWriteTraceId": "s1", "properties": {}}]
        }
    )
    if line_item:
        respx.post(f"{V4}/deals/line_items/batch/read").mock(
            return_value=attached("900", *(i for i, _ in line_item))
        )
        respx.post(f"{V3}/line_items/batch/read").mock(return_value=line_items(*line_item))


@respx.mock
async def test_deal_lines_are_matched_by_key_and_only_changed_lines_are_written(adapter):
    deal_saved()
    assoc = respx.post(f"{V4}/deals/companies/batch/create").respond(201, json={"results": []})
    respx.post(f"{V4}/deals/companies/batch/read").respond(json={"results": []})
    respx.post(f"{V4}/deals/contacts/batch/create").respond(201, json={"results": []})
    respx.post(f"{V4}/deals/contacts/batch/read").respond(json={"results": []})
    respx.post(f"{V4}/deals/line_items/batch/read").mock(
        return_value=attached("900", 71, 72, 73, 74)
    )
    respx.post(f"{V3}/line_items/batch/read").mock(
        return_value=line_items(
            # HubSpot's own terms: numbers without trailing zeros, its computed amount.
            (71, {"erp_line_no": "1", "hs_sku": "A", "quantity": "2", "price": "9.5",
                  "amount": "19"}),
            (72, {"erp_line_no": "2", "hs_sku": "B", "quantity": "1", "price": "3"}),
            (73, {"erp_line_no": "3", "hs_sku": "C", "quantity": "1", "price": "3"}),
            # A create replayed after a crash left a second line item with key 2.
            (74, {"erp_line_no": "2", "hs_sku": "B", "quantity": "1", "price": "3"}),
        )
    )  # fmt: skip
    created = respx.post(f"{V3}/line_items/batch/create").mock(
        side_effect=lambda request: httpx.Response(
            201, json={"results": [{"id": "80", "properties": {}}]}
        )
    )
    updated = respx.post(f"{V3}/line_items/batch/update").respond(
        json={"results": [{"id": "72", "properties": {}}]}
    )
    archived = respx.post(f"{V3}/line_items/batch/archive").respond(204)
    fields = {
        "dealname": "SO-1",
        "associations": {"company": "10", "contact": "20"},
        "lines": [
            {"erp_line_no": 1, "hs_sku": "A", "quantity": Decimal("2.0"), "price": Decimal("9.50")},
            {"erp_line_no": 2, "hs_sku": "B", "quantity": 5, "price": 3},
            {"erp_line_no": 4, "hs_sku": "D", "quantity": 1, "price": 7},
        ],
    }  # fmt: skip
    [result] = await adapter.upsert(Entity.SALE, [NativeWrite("s1", None, fields)])
    assert result.ok and result.external_id == "900"
    # Line 1 is unchanged in HubSpot's terms: not written. Line 2 changed in one property.
    assert json.loads(updated.calls[0].request.content)["inputs"] == [
        {"id": "72", "properties": {"quantity": "5"}, "objectWriteTraceId": "900:72"}
    ]
    [new] = json.loads(created.calls[0].request.content)["inputs"]
    assert new["properties"] == {"erp_line_no": "4", "hs_sku": "D", "quantity": "1", "price": "7"}
    assert new["associations"][0]["to"] == {"id": "900"}
    assert new["associations"][0]["types"][0]["associationTypeId"] == 20
    # The vanished line 3 and the double of line 2 go; 71 and 72 keep their ids.
    assert json.loads(archived.calls[0].request.content) == {"inputs": [{"id": "74"}, {"id": "73"}]}
    deal_company = json.loads(assoc.calls[0].request.content)["inputs"][0]["types"][0]
    assert deal_company["associationTypeId"] == 5


@respx.mock
async def test_unchanged_lines_cost_no_line_item_write(adapter):
    deal_saved((71, {"erp_line_no": "1", "hs_sku": "A", "price": "10"}))
    writes = respx.post(url__regex=rf"{V3}/line_items/batch/(create|update|archive)")
    lines = [{"erp_line_no": 1, "hs_sku": "A", "price": Decimal("10.00")}]
    [result] = await adapter.upsert(Entity.SALE, [NativeWrite("s1", None, {"lines": lines})])
    assert result.ok and writes.call_count == 0


@respx.mock
async def test_a_failed_line_write_fails_the_deal_retryably(adapter):
    deal_saved((71, {"erp_line_no": "1", "hs_sku": "A", "price": "1"}))
    respx.post(f"{V3}/line_items/batch/create").respond(
        207,
        json={
            "results": [],
            "errors": [
                {
                    "category": "VALIDATION_ERROR",
                    "message": "price cannot be negative",
                    "context": {"objectWriteTraceId": ["900:new1"]},
                }
            ],
        },
    )
    lines = [{"erp_line_no": 1, "hs_sku": "A", "price": "1"}, {"erp_line_no": 2, "price": "-1"}]
    [result] = await adapter.upsert(Entity.SALE, [NativeWrite("s1", None, {"lines": lines})])
    assert result.error is not None and "negative" in str(result.error)
    assert result.error.retryable, "the deal is not recorded as synced; the next run completes it"
    assert result.external_id == "900"


@respx.mock
async def test_read_changes_reports_archived_records_as_deletes_in_order(adapter):
    respx.post(f"{V3}/companies/search").respond(
        json={
            "results": [{"id": "5", "properties": {"hs_lastmodifieddate": "2026-03-01T00:00:10Z"}}]
        }
    )
    listing = respx.get(f"{V3}/companies").respond(
        json={
            "results": [
                {
                    "id": "4",
                    "archived": True,
                    "archivedAt": "2026-03-01T00:00:05Z",
                    "properties": {},
                },
                {
                    "id": "3",
                    "archived": True,
                    "archivedAt": "2025-01-01T00:00:00Z",
                    "properties": {},
                },
                {
                    "id": "6",
                    "archived": True,
                    "archivedAt": "2026-03-01T00:00:20Z",
                    "properties": {},
                },
            ]
        }
    )
    since = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    records = [
        r async for page in adapter.read_changes(Entity.CUSTOMER, since) for r in page.records
    ]
    assert [(r.id, r.deleted) for r in records] == [("4", True), ("5", False), ("6", True)]
    assert listing.calls[0].request.url.params["archived"] == "true"


@respx.mock
async def test_read_fills_associations_and_lines_of_deals(adapter):
    respx.post(f"{V3}/deals/batch/read").respond(
        json={
            "results": [
                {
                    "id": "900",
                    "properties": {
                        "dealname": "SO-1",
                        "hs_lastmodifieddate": "2026-03-01T00:00:00Z",
                    },
                    "updatedAt": "2026-03-01T00:00:00Z",
                }
            ]
        }
    )
    respx.post(f"{V4}/deals/companies/batch/read").respond(
        json={
            "results": [
                {
                    "from": {"id": "900"},
                    "to": [
                        {"toObjectId": 10, "associationTypes": [{"typeId": 341}]},
                        {"toObjectId": 11, "associationTypes": [{"typeId": 5}]},
                    ],
                }
            ]
        }
    )
    respx.post(f"{V4}/deals/contacts/batch/read").respond(json={"results": []})
    respx.post(f"{V4}/deals/line_items/batch/read").respond(
        json={
            "results": [
                {
                    "from": {"id": "900"},
                    "to": [
                        {"toObjectId": 72, "associationTypes": [{"typeId": 19}]},
                        {"toObjectId": 71, "associationTypes": [{"typeId": 19}]},
                    ],
                }
            ]
        }
    )
    respx.post(f"{V3}/line_items/batch/read").respond(
        json={
            "results": [
                {"id": "72", "properties": {"hs_sku": "B"}},
                {"id": "71", "properties": {"hs_sku": "A"}},
            ]
        }
    )
    [deal] = await adapter.read(Entity.SALE, ["900"])
    assert deal.fields["associations"] == {"company": "11", "contact": None}
    assert [line["hs_sku"] for line in deal.fields["lines"]] == ["A", "B"]


@respx.mock
async def test_lookup_by_unique_property_uses_batch_read_with_id_property(adapter):
    route = respx.post(f"{V3}/companies/batch/read").respond(
        207,
        json={
            "results": [{"id": "1", "properties": {"erp_customer_no": "C-1"}}],
            "errors": [{"category": "OBJECT_NOT_FOUND", "message": "not found"}],
        },
    )
    found = await adapter.lookup(Entity.CUSTOMER, "erp_customer_no", ["C-1", "C-2"])
    assert list(found) == ["C-1"] and found["C-1"].id == "1"
    sent = json.loads(route.calls[0].request.content)
    assert sent["idProperty"] == "erp_customer_no"
    # Required by HubSpot's API description, even when no history is wanted.
    assert sent["propertiesWithHistory"] == [] and "erp_customer_no" in sent["properties"]


@respx.mock
async def test_lookup_by_other_property_searches_in_lowercase(adapter):
    route = respx.post(f"{V3}/companies/search").respond(
        json={"results": [{"id": "1", "properties": {"domain": "acme.com"}}]}
    )
    found = await adapter.lookup(Entity.CUSTOMER, "domain", ["ACME.com"])
    assert found["ACME.com"].id == "1"
    flt = json.loads(route.calls[0].request.content)["filterGroups"][0]["filters"][0]
    assert flt == {"propertyName": "domain", "operator": "IN", "values": ["acme.com"]}


@respx.mock
async def test_delete_archives_in_batches(adapter):
    route = respx.post(f"{V3}/contacts/batch/archive").respond(204)
    results = await adapter.delete(Entity.CONTACT, [str(n) for n in range(150)])
    assert len(results) == 150 and all(r.ok for r in results) and route.call_count == 2


@respx.mock
async def test_lookup_search_follows_after_in_the_body_and_stops_at_the_10000_cap(adapter):
    def page(request: httpx.Request) -> httpx.Response:
        offset = int(json.loads(request.content).get("after", 0))
        results = [{"id": str(offset + n), "properties": {"domain": "x.com"}} for n in range(200)]
        # HubSpot always offers a next page here; asking past 10,000 results would be a 400.
        return httpx.Response(
            200, json={"results": results, "paging": {"next": {"after": str(offset + 200)}}}
        )

    route = respx.post(f"{V3}/companies/search").mock(side_effect=page)
    await adapter.lookup(Entity.CUSTOMER, "domain", ["x.com"])
    afters = [json.loads(call.request.content).get("after") for call in route.calls]
    assert afters == [None, *(str(n) for n in range(200, 10_000, 200))]


@respx.mock
async def test_archived_records_are_read_from_every_page_of_the_archived_list(adapter):
    respx.post(f"{V3}/companies/search").respond(json={"results": []})
    pages = {
        None: {"results": [archived("1")], "paging": {"next": {"after": "abc"}}},
        "abc": {"results": [archived("2")]},
    }
    route = respx.get(f"{V3}/companies").mock(
        side_effect=lambda request: httpx.Response(200, json=pages[request.url.params.get("after")])
    )
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    deleted = [
        r async for page in adapter.read_changes(Entity.CUSTOMER, since) for r in page.records
    ]
    assert [(r.id, r.deleted) for r in deleted] == [("1", True), ("2", True)]
    assert [call.request.url.params.get("archived") for call in route.calls] == ["true", "true"]


def archived(record_id: str) -> dict[str, object]:
    return {"id": record_id, "properties": {}, "archivedAt": "2026-02-01T00:00:00Z"}


@respx.mock
async def test_a_batch_upsert_is_sent_as_httpx_sends_a_json_body(adapter):
    """The body and its headers are what `json=` gave before the bodies went through orjson."""
    sent: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"status": "COMPLETE", "results": []})

    respx.post(f"{V3}/companies/batch/upsert").mock(side_effect=server)
    write = NativeWrite("k1", None, {"name": "Müller & Söhne", "numberofemployees": 12})
    await adapter.upsert(Entity.CUSTOMER, [write])
    (request,) = sent
    body = {
        "inputs": [
            {
                "idProperty": "connector_key",
                "id": "k1",
                "properties": {
                    "name": "Müller & Söhne",
                    "numberofemployees": "12",
                    "connector_key": "k1",
                },
                "objectWriteTraceId": "k1",
            }
        ]
    }
    expected = httpx.Request("POST", request.url, json=body)
    assert request.content == expected.content
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-length"] == expected.headers["content-length"]
    assert request.headers["authorization"] == "Bearer pat-test-token"
