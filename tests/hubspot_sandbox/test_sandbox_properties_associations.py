"""Properties API (groups, uniqueness rules) and associations (inline and v4)."""

from __future__ import annotations

import httpx

from .conftest import make_unique_property

PROPS = "/crm/v3/properties/companies"


async def test_property_group_and_unique_property_lifecycle(hs: httpx.AsyncClient) -> None:
    group = await hs.post(f"{PROPS}/groups", json={"name": "erp_sync", "label": "ERP sync"})
    assert group.status_code == 201
    assert (
        await hs.post(f"{PROPS}/groups", json={"name": "erp_sync", "label": "x"})
    ).status_code == 409
    spec = {"name": "erp_customer_no", "label": "ERP customer no.", "groupName": "erp_sync",
            "type": "string", "fieldType": "text", "hasUniqueValue": True}  # fmt: skip
    created = await hs.post(PROPS, json=spec)
    assert created.status_code == 201
    assert created.json()["hasUniqueValue"] is True
    assert (await hs.post(PROPS, json=spec)).status_code == 409
    read = (await hs.get(f"{PROPS}/erp_customer_no")).json()
    assert read["groupName"] == "erp_sync" and read["hubspotDefined"] is False
    listed = (await hs.get(PROPS)).json()["results"]
    assert "erp_customer_no" in {p["name"] for p in listed}
    flip = await hs.patch(f"{PROPS}/erp_customer_no", json={"hasUniqueValue": False})
    assert flip.status_code == 400
    relabel = await hs.patch(f"{PROPS}/erp_customer_no", json={"label": "Customer no."})
    assert relabel.json()["label"] == "Customer no."
    groups = (await hs.get(f"{PROPS}/groups")).json()["results"]
    assert "erp_sync" in {g["name"] for g in groups}


async def test_property_validation(hs: httpx.AsyncClient) -> None:
    missing = await hs.post(PROPS, json={"name": "x", "label": "x"})
    assert missing.status_code == 400
    no_group = {"name": "x", "label": "x", "type": "string", "fieldType": "text",
                "groupName": "nowhere"}  # fmt: skip
    assert (await hs.post(PROPS, json=no_group)).status_code == 400
    for n in range(10):
        await make_unique_property(hs, "companies", f"key_{n}")
    eleventh = {**no_group, "name": "key_10", "groupName": "companyinformation",
                "hasUniqueValue": True}  # fmt: skip
    assert (await hs.post(PROPS, json=eleventh)).status_code == 400
    builtin = await hs.delete(f"{PROPS}/name")
    assert builtin.status_code == 400


async def test_batch_create_properties_207(hs: httpx.AsyncClient) -> None:
    good = {"name": "erp_a", "label": "A", "type": "number", "fieldType": "number",
            "groupName": "companyinformation"}  # fmt: skip
    bad = {**good, "name": "erp_b", "type": "money"}
    response = await hs.post(f"{PROPS}/batch/create", json={"inputs": [good, bad]})
    assert response.status_code == 207
    assert [p["name"] for p in response.json()["results"]] == ["erp_a"]


async def _deal_with_company_and_contact(hs: httpx.AsyncClient) -> tuple[str, str, str]:
    company = (
        await hs.post("/crm/v3/objects/companies", json={"properties": {"name": "A"}})
    ).json()
    contact_body = {
        "properties": {"email": "p@a.io"},
        "associations": [{"to": {"id": company["id"]},
                          "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                     "associationTypeId": 279}]}],
    }  # fmt: skip
    contact = await hs.post("/crm/v3/objects/contacts", json=contact_body)
    assert contact.status_code == 201
    deal_body = {
        "properties": {"dealname": "SO-1", "dealstage": "closedwon", "pipeline": "default"},
        "associations": [
            {"to": {"id": company["id"]},
             "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}]},
            {"to": {"id": contact.json()["id"]},
             "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]},
        ],
    }  # fmt: skip
    deal = await hs.post("/crm/v3/objects/deals", json=deal_body)
    assert deal.status_code == 201
    return company["id"], contact.json()["id"], deal.json()["id"]


async def test_inline_associations_and_inverse_reads(hs: httpx.AsyncClient) -> None:
    company, contact, deal = await _deal_with_company_and_contact(hs)
    read = await hs.post(
        "/crm/v4/associations/companies/deals/batch/read", json={"inputs": [{"id": company}]}
    )
    assert read.status_code == 200
    to = read.json()["results"][0]["to"][0]
    assert to["toObjectId"] == int(deal)
    # Primary deal→company (5) also makes the unlabeled one (341); the inverses are 6 and 342.
    assert sorted(t["typeId"] for t in to["associationTypes"]) == [6, 342]
    with_assoc = await hs.get(
        f"/crm/v3/objects/contacts/{contact}", params={"associations": "companies"}
    )
    assert with_assoc.json()["associations"]["companies"]["results"][0]["id"] == company
    search = {"filterGroups": [{"filters": [{"propertyName": "associations.company",
                                             "operator": "EQ", "value": company}]}]}  # fmt: skip
    found = (await hs.post("/crm/v3/objects/deals/search", json=search)).json()
    assert [r["id"] for r in found["results"]] == [deal]


async def test_wrong_direction_type_id_is_rejected(hs: httpx.AsyncClient) -> None:
    company, _contact, deal = await _deal_with_company_and_contact(hs)
    inline = {"properties": {"name": "L"},
              "associations": [{"to": {"id": deal},
                                "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                           "associationTypeId": 19}]}]}  # fmt: skip
    assert (await hs.post("/crm/v3/objects/line_items", json=inline)).status_code == 400
    batch = {"inputs": [
        {"from": {"id": deal}, "to": {"id": company},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]},
        {"from": {"id": deal}, "to": {"id": company},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}]},
    ]}  # fmt: skip
    response = await hs.post("/crm/v4/associations/deals/companies/batch/create", json=batch)
    assert response.status_code == 207
    assert response.json()["errors"][0]["category"] == "VALIDATION_ERROR"
    assert response.json()["results"][0]["toObjectId"] == int(company)


async def test_line_item_to_deal_and_archive(hs: httpx.AsyncClient) -> None:
    _, _, deal = await _deal_with_company_and_contact(hs)
    line = (await hs.post("/crm/v3/objects/line_items", json={"properties": {"name": "L"}})).json()
    create = {"inputs": [{"from": {"id": line["id"]}, "to": {"id": deal},
                          "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                     "associationTypeId": 20}]}]}  # fmt: skip
    made = await hs.post("/crm/associations/2026-03/line_items/deals/batch/create", json=create)
    assert made.status_code == 201
    listed = (await hs.get(f"/crm/v4/objects/deals/{deal}/associations/line_items")).json()
    assert listed["results"][0]["associationTypes"][0]["typeId"] == 19
    archive = {"inputs": [{"from": {"id": deal}, "to": [{"id": line["id"]}]}]}
    gone = await hs.post("/crm/v4/associations/deals/line_items/batch/archive", json=archive)
    assert gone.status_code == 204
    read = await hs.post(
        "/crm/v4/associations/line_items/deals/batch/read", json={"inputs": [{"id": line["id"]}]}
    )
    assert read.status_code == 207
    assert read.json()["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"


async def test_default_and_labeled_single_record_endpoints(hs: httpx.AsyncClient) -> None:
    company = (
        await hs.post("/crm/v3/objects/companies", json={"properties": {"name": "A"}})
    ).json()
    contact = (
        await hs.post("/crm/v3/objects/contacts", json={"properties": {"email": "b@a.io"}})
    ).json()
    url = f"/crm/v4/objects/contacts/{contact['id']}/associations"
    default = await hs.put(f"{url}/default/companies/{company['id']}")
    assert default.json()["results"][0]["associationSpec"]["associationTypeId"] == 279
    labeled = await hs.put(
        f"{url}/companies/{company['id']}",
        json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
    )
    assert labeled.status_code == 201 and labeled.json()["labels"] == ["Primary"]
    assert (await hs.delete(f"{url}/companies/{company['id']}")).status_code == 204
    assert (await hs.get(f"{url}/companies")).json()["results"] == []


async def test_the_default_industry_property_takes_only_its_options(hs: httpx.AsyncClient) -> None:
    definition = (await hs.get(f"{PROPS}/industry")).json()
    assert definition["type"] == "enumeration" and definition["fieldType"] == "select"
    values = {option["value"] for option in definition["options"]}
    assert {"RETAIL", "MACHINERY", "COMPUTER_SOFTWARE"} <= values and "Retail" not in values

    refused = await hs.post(
        "/crm/v3/objects/companies", json={"properties": {"name": "A", "industry": "Retail"}}
    )
    assert refused.status_code == 400 and "INVALID_OPTION" in refused.text
    batch = await hs.post(
        "/crm/v3/objects/companies/batch/create",
        json={
            "inputs": [
                {"properties": {"name": "B", "industry": "RETAIL"}, "objectWriteTraceId": "ok"},
                {"properties": {"name": "C", "industry": "Widgets"}, "objectWriteTraceId": "bad"},
            ]
        },
    )
    assert batch.status_code == 207, batch.text
    body = batch.json()
    assert [r["properties"]["industry"] for r in body["results"]] == ["RETAIL"]
    assert "INVALID_OPTION" in str(body["errors"]) and "bad" in str(body["errors"])
