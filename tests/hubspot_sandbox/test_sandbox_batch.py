"""Object and batch endpoints: limits, 207 splits, uniqueness, upserts, reads, paging."""

from __future__ import annotations

import httpx

from adapters.hubspot.sandbox import Sandbox

from .conftest import make_unique_property

COMPANIES = "/crm/v3/objects/companies"


async def test_more_than_100_inputs_is_a_400_validation_error(hs: httpx.AsyncClient) -> None:
    inputs = [{"properties": {"name": f"Co {n}"}} for n in range(101)]
    response = await hs.post(f"{COMPANIES}/batch/create", json={"inputs": inputs})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert "101" in body["message"] and "100" in body["message"]
    assert body["correlationId"]
    listed = await hs.get(COMPANIES)
    assert listed.json()["results"] == []


async def test_exactly_100_inputs_are_accepted(hs: httpx.AsyncClient) -> None:
    inputs = [{"properties": {"name": f"Co {n}"}} for n in range(100)]
    response = await hs.post(f"{COMPANIES}/batch/create", json={"inputs": inputs})
    assert response.status_code == 201
    assert len(response.json()["results"]) == 100


async def test_traced_batch_create_splits_failures_into_207(hs: httpx.AsyncClient) -> None:
    await make_unique_property(hs, "companies", "erp_customer_no")
    first = await hs.post(COMPANIES, json={"properties": {"name": "A", "erp_customer_no": "C-1"}})
    assert first.status_code == 201
    inputs = [
        {"properties": {"name": "B", "erp_customer_no": "C-2"}, "objectWriteTraceId": "t-2"},
        {"properties": {"name": "dup", "erp_customer_no": "C-1"}, "objectWriteTraceId": "t-1"},
        {"properties": {"name": "bad", "nope": "x"}, "objectWriteTraceId": "t-bad"},
    ]
    response = await hs.post(f"{COMPANIES}/batch/create", json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert body["status"] == "COMPLETE"
    assert [r["properties"]["erp_customer_no"] for r in body["results"]] == ["C-2"]
    assert body["numErrors"] == 2
    by_trace = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert by_trace["t-1"]["category"] == "CONFLICT"
    assert by_trace["t-bad"]["category"] == "VALIDATION_ERROR"
    assert by_trace["t-bad"]["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"


async def test_untraced_failure_fails_whole_create_batch(hs: httpx.AsyncClient) -> None:
    await make_unique_property(hs, "companies", "erp_customer_no")
    inputs = [
        {"properties": {"name": "ok", "erp_customer_no": "C-9"}},
        {"properties": {"name": "twin", "erp_customer_no": "C-9"}},
    ]
    response = await hs.post(f"{COMPANIES}/batch/create", json={"inputs": inputs})
    assert response.status_code == 409
    assert response.json()["category"] == "CONFLICT"
    assert (await hs.get(COMPANIES)).json()["results"] == []


async def test_duplicate_unique_value_on_create_is_409(hs: httpx.AsyncClient) -> None:
    await make_unique_property(hs, "companies", "erp_customer_no")
    body = {"properties": {"name": "A", "erp_customer_no": "C-1"}}
    created = await hs.post(COMPANIES, json=body)
    again = await hs.post(COMPANIES, json=body)
    assert again.status_code == 409
    error = again.json()
    assert error["category"] == "CONFLICT"
    assert f"Existing ID: {created.json()['id']}" in error["message"]


async def test_contact_email_is_unique_case_insensitively(hs: httpx.AsyncClient) -> None:
    contacts = "/crm/v3/objects/contacts"
    created = await hs.post(contacts, json={"properties": {"email": "a@x.io"}})
    again = await hs.post(contacts, json={"properties": {"email": "A@X.io"}})
    assert again.status_code == 409
    assert again.json()["message"] == f"Contact already exists. Existing ID: {created.json()['id']}"


async def test_upsert_creates_then_updates_and_reports_new(
    hs: httpx.AsyncClient, sandbox: Sandbox, clock
) -> None:
    await make_unique_property(hs, "companies", "erp_customer_no")
    upsert = f"{COMPANIES}/batch/upsert"
    one = {"idProperty": "erp_customer_no", "id": "C-1", "properties": {"name": "Acme"}}
    created = (await hs.post(upsert, json={"inputs": [one]})).json()["results"][0]
    assert created["new"] is True
    assert created["properties"]["erp_customer_no"] == "C-1"
    clock.advance(5_000)
    renamed = {**one, "properties": {"name": "Acme GmbH", "numberofemployees": 12}}
    response = await hs.post(upsert, json={"inputs": [renamed]})
    assert response.status_code == 200
    updated = response.json()["results"][0]
    assert updated["new"] is False and updated["id"] == created["id"]
    assert updated["properties"]["numberofemployees"] == "12"  # values are strings
    assert updated["updatedAt"] > created["updatedAt"]


async def test_upsert_by_non_unique_property_fails_the_batch(hs: httpx.AsyncClient) -> None:
    one = {"idProperty": "name", "id": "Acme", "properties": {"name": "Acme"}}
    response = await hs.post(f"{COMPANIES}/batch/upsert", json={"inputs": [one]})
    assert response.status_code == 400
    assert "non-unique 0-2 property name" in response.json()["message"]


async def test_two_inputs_for_one_record_reject_the_batch(hs: httpx.AsyncClient) -> None:
    await make_unique_property(hs, "companies", "erp_customer_no")
    one = {"idProperty": "erp_customer_no", "id": "C-1", "properties": {"name": "A"}}
    response = await hs.post(f"{COMPANIES}/batch/upsert", json={"inputs": [one, one]})
    assert response.status_code == 400
    assert (await hs.get(COMPANIES)).json()["results"] == []


async def test_upsert_207_echoes_trace_ids(hs: httpx.AsyncClient) -> None:
    await make_unique_property(hs, "companies", "erp_customer_no")
    good = {"idProperty": "erp_customer_no", "id": "C-1", "properties": {"name": "A"},
            "objectWriteTraceId": "C-1"}  # fmt: skip
    bad = {"idProperty": "erp_customer_no", "id": "C-2",
           "properties": {"numberofemployees": "many"}, "objectWriteTraceId": "C-2"}  # fmt: skip
    response = await hs.post(f"{COMPANIES}/batch/upsert", json={"inputs": [good, bad]})
    assert response.status_code == 207
    body = response.json()
    assert len(body["results"]) == 1
    assert body["errors"][0]["context"]["objectWriteTraceId"] == ["C-2"]
    assert body["errors"][0]["errors"][0]["code"] == "INVALID_DECIMAL"


async def test_batch_read_by_id_property_reports_missing_with_207(hs: httpx.AsyncClient) -> None:
    await make_unique_property(hs, "companies", "erp_customer_no")
    await hs.post(COMPANIES, json={"properties": {"name": "A", "erp_customer_no": "C-1"}})
    body = {"idProperty": "erp_customer_no", "properties": ["name"], "propertiesWithHistory": [],
            "inputs": [{"id": "C-1"}, {"id": "C-404"}]}  # fmt: skip
    response = await hs.post(f"{COMPANIES}/batch/read", json=body)
    assert response.status_code == 207
    result = response.json()
    assert result["results"][0]["properties"] == {"name": "A"}
    assert result["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert result["errors"][0]["context"]["ids"] == ["C-404"]


async def test_batch_update_missing_record_is_per_input(hs: httpx.AsyncClient) -> None:
    created = (await hs.post(COMPANIES, json={"properties": {"name": "A"}})).json()
    inputs = [
        {"id": created["id"], "properties": {"name": "B"}},
        {"id": "999999", "properties": {"name": "C"}, "objectWriteTraceId": "x"},
    ]
    response = await hs.post(f"{COMPANIES}/batch/update", json={"inputs": inputs})
    assert response.status_code == 207
    assert response.json()["results"][0]["properties"]["name"] == "B"
    assert response.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"


async def test_read_only_and_required_properties(hs: httpx.AsyncClient) -> None:
    read_only = await hs.post(COMPANIES, json={"properties": {"name": "A", "hs_object_id": "1"}})
    assert read_only.status_code == 400
    assert read_only.json()["errors"][0]["code"] == "READ_ONLY_VALUE"
    deal = await hs.post("/crm/v3/objects/deals", json={"properties": {"dealname": "D"}})
    assert deal.status_code == 400
    assert deal.json()["category"] == "VALIDATION_ERROR"


async def test_archive_get_and_list_archived(hs: httpx.AsyncClient) -> None:
    created = (await hs.post(COMPANIES, json={"properties": {"name": "A"}})).json()
    assert (await hs.delete(f"{COMPANIES}/{created['id']}")).status_code == 204
    assert (await hs.get(f"{COMPANIES}/{created['id']}")).status_code == 404
    archived = (await hs.get(COMPANIES, params={"archived": "true"})).json()["results"]
    assert [r["id"] for r in archived] == [created["id"]]
    assert archived[0]["archived"] is True and "archivedAt" in archived[0]


async def test_list_pages_with_after_and_no_paging_on_last(hs: httpx.AsyncClient) -> None:
    for n in range(5):
        await hs.post(COMPANIES, json={"properties": {"name": f"Co {n}"}})
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2", "properties": "name"}
    while True:
        page = (await hs.get(COMPANIES, params=params)).json()
        seen += [r["properties"]["name"] for r in page["results"]]
        if "paging" not in page:
            break
        params["after"] = page["paging"]["next"]["after"]
    assert seen == [f"Co {n}" for n in range(5)]


async def test_dated_paths_serve_the_same_data(hs: httpx.AsyncClient) -> None:
    created = (await hs.post(COMPANIES, json={"properties": {"name": "A"}})).json()
    dated = await hs.get(f"/crm/objects/2026-03/0-2/{created['id']}")
    assert dated.status_code == 200
    assert dated.json()["properties"]["name"] == "A"


async def test_date_values_switch(hs: httpx.AsyncClient, sandbox: Sandbox) -> None:
    deal = {"dealname": "D", "dealstage": "closedwon", "pipeline": "default",
            "closedate": "2024-05-01T00:00:00Z"}  # fmt: skip
    created = (await hs.post("/crm/v3/objects/deals", json={"properties": deal})).json()
    assert created["properties"]["closedate"] == "2024-05-01T00:00:00.000Z"
    sandbox.update_switches({"date_values": "epoch_ms"})
    read = (await hs.get(f"/crm/v3/objects/deals/{created['id']}")).json()
    assert read["properties"]["closedate"] == "1714521600000"


async def test_patch_by_id_property_and_no_op_keeps_modified_date(
    hs: httpx.AsyncClient, clock
) -> None:
    await make_unique_property(hs, "companies", "erp_customer_no")
    created = (
        await hs.post(COMPANIES, json={"properties": {"name": "A", "erp_customer_no": "C-1"}})
    ).json()
    clock.advance(1_000)
    same = await hs.patch(
        f"{COMPANIES}/C-1", params={"idProperty": "erp_customer_no"},
        json={"properties": {"name": "A"}},
    )  # fmt: skip
    assert same.status_code == 200
    assert same.json()["updatedAt"] == created["updatedAt"]
    changed = await hs.patch(
        f"{COMPANIES}/C-1", params={"idProperty": "erp_customer_no"},
        json={"properties": {"name": "B", "city": ""}},
    )  # fmt: skip
    assert changed.json()["properties"]["name"] == "B"
    assert changed.json()["updatedAt"] > created["updatedAt"]


async def test_date_property_must_be_midnight_utc(hs: httpx.AsyncClient) -> None:
    """Dates hold midnight UTC; with normalisation off they read back as the day alone."""
    spec = {"name": "erp_order_date", "label": "Order date", "type": "date",
            "fieldType": "date", "groupName": "dealinformation"}  # fmt: skip
    assert (await hs.post("/crm/properties/2026-03/deals", json=spec)).status_code == 201
    deal = {"dealname": "D", "dealstage": "appointmentscheduled", "pipeline": "default"}
    noon = await hs.post(
        "/crm/v3/objects/deals",
        json={"properties": {**deal, "erp_order_date": "1714564800000"}},
    )
    assert noon.status_code == 400
    assert noon.json()["errors"][0]["code"] == "INVALID_DATE"
    midnight = await hs.post(
        "/crm/v3/objects/deals",
        json={"properties": {**deal, "erp_order_date": "1714521600000"}},
    )
    assert midnight.status_code == 201
    # A normalising portal shows a date as the midnight-UTC datetime it holds.
    assert midnight.json()["properties"]["erp_order_date"] == "2024-05-01T00:00:00.000Z"


async def test_without_normalisation_a_date_reads_back_as_the_day(
    hs: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.update_switches({"normalize_values": False})
    spec = {"name": "erp_order_date", "label": "Order date", "type": "date",
            "fieldType": "date", "groupName": "dealinformation"}  # fmt: skip
    assert (await hs.post("/crm/v3/properties/deals", json=spec)).status_code == 201
    deal = {"dealname": "D", "dealstage": "appointmentscheduled", "pipeline": "default"}
    deal["erp_order_date"] = "2024-05-01"
    created = await hs.post("/crm/v3/objects/deals", json={"properties": deal})
    assert created.json()["properties"]["erp_order_date"] == "2024-05-01"
