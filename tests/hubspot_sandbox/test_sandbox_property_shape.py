"""The property list the sandbox answers follows the Properties API's documented shape
(hubspot.md §4), with HubSpot's own enumeration options and read-only flags: what
`connector check` reads (adapters/hubspot/describe.py) and what the sandbox enforces agree."""

from __future__ import annotations

from typing import Any

import httpx

DOCUMENTED = {"name", "label", "type", "fieldType", "groupName", "options", "calculated",
              "hasUniqueValue", "hubspotDefined", "modificationMetadata"}  # fmt: skip


async def listed(hs: httpx.AsyncClient, object_type: str) -> dict[str, dict[str, Any]]:
    answer = await hs.get(f"/crm/v3/properties/{object_type}")
    assert answer.status_code == 200
    return {p["name"]: p for p in answer.json()["results"]}


async def test_every_property_has_the_documented_fields(hs: httpx.AsyncClient) -> None:
    for object_type in ("companies", "contacts", "deals", "line_items"):
        for name, body in (await listed(hs, object_type)).items():
            assert set(body) >= DOCUMENTED, name
            assert body["type"] in {"string", "number", "date", "datetime", "enumeration",
                                    "bool", "phone_number"}  # fmt: skip
            assert "readOnlyValue" in body["modificationMetadata"]
            for option in body["options"]:
                assert {"label", "value", "hidden", "displayOrder"} <= set(option)


async def test_enumerations_carry_hubspots_default_options(hs: httpx.AsyncClient) -> None:
    companies = await listed(hs, "companies")
    contacts = await listed(hs, "contacts")
    deals = await listed(hs, "deals")
    stages = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
              "opportunity", "customer", "evangelist", "other"]  # fmt: skip
    for found in (companies, contacts):
        assert found["lifecyclestage"]["type"] == "enumeration"
        assert [o["value"] for o in found["lifecyclestage"]["options"]] == stages
    industries = [o["value"] for o in companies["industry"]["options"]]
    assert "COMPUTER_SOFTWARE" in industries and "Software" not in industries
    assert [o["value"] for o in deals["pipeline"]["options"]] == ["default"]
    deal_stages = [o["value"] for o in deals["dealstage"]["options"]]
    assert deal_stages[0] == "appointmentscheduled" and "closedwon" in deal_stages
    assert "closedlost" in deal_stages and "won" not in deal_stages


async def test_a_value_outside_the_options_is_refused(hs: httpx.AsyncClient) -> None:
    deal = {"dealname": "D", "dealstage": "won", "pipeline": "default"}
    refused = await hs.post("/crm/v3/objects/deals", json={"properties": deal})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "INVALID_OPTION"
    contact = {"email": "a@example.com", "lifecyclestage": "prospect"}
    refused = await hs.post("/crm/v3/objects/contacts", json={"properties": contact})
    assert refused.status_code == 400
    ok = await hs.post(
        "/crm/v3/objects/contacts", json={"properties": {**contact, "lifecyclestage": "lead"}}
    )
    assert ok.status_code == 201, ok.text


async def test_computed_line_item_properties_are_calculated_and_read_only(
    hs: httpx.AsyncClient,
) -> None:
    lines = await listed(hs, "line_items")
    for name in ("amount", "hs_pre_discount_amount", "hs_total_discount"):
        assert lines[name]["calculated"] is True, name
        assert lines[name]["modificationMetadata"]["readOnlyValue"] is True, name
    for name in ("price", "quantity", "discount", "name"):
        assert lines[name]["calculated"] is False, name
        assert lines[name]["modificationMetadata"]["readOnlyValue"] is False, name
