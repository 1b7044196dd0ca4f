"""Search: operators, groups, sorting, paging, the 10,000 cap and request limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from adapters.hubspot.sandbox import ManualClock, Sandbox, seed_records
from adapters.hubspot.sandbox.objecttypes import resolve_type

SEARCH = "/crm/v3/objects/companies/search"


@pytest.fixture
async def companies(hs: httpx.AsyncClient, clock: ManualClock) -> list[str]:
    rows = [
        {"name": "Acme Widgets", "domain": "acme.io", "numberofemployees": "50"},
        {"name": "Beta Gears", "domain": "beta.io", "numberofemployees": "5"},
        {"name": "Gamma", "numberofemployees": "500", "industry": "RETAIL"},
        {"name": "delta widgets", "domain": "delta.io"},
    ]
    ids = []
    for row in rows:
        clock.advance(1_000)
        response = await hs.post("/crm/v3/objects/companies", json={"properties": row})
        ids.append(response.json()["id"])
    return ids


async def _names(hs: httpx.AsyncClient, body: dict[str, Any]) -> list[str]:
    response = await hs.post(SEARCH, json={"properties": ["name"], "limit": 100, **body})
    assert response.status_code == 200, response.text
    return [r["properties"]["name"] for r in response.json()["results"]]


def _where(*filters: dict[str, Any]) -> dict[str, Any]:
    return {"filterGroups": [{"filters": list(filters)}]}


@pytest.mark.usefixtures("companies")
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"operator": "EQ", "propertyName": "name", "value": "GAMMA"}, ["Gamma"]),
        ({"operator": "NEQ", "propertyName": "domain", "value": "acme.io"},
         ["Beta Gears", "Gamma", "delta widgets"]),
        ({"operator": "GT", "propertyName": "numberofemployees", "value": "5"},
         ["Acme Widgets", "Gamma"]),
        ({"operator": "GTE", "propertyName": "numberofemployees", "value": "50"},
         ["Acme Widgets", "Gamma"]),
        ({"operator": "LT", "propertyName": "numberofemployees", "value": "50"}, ["Beta Gears"]),
        ({"operator": "LTE", "propertyName": "numberofemployees", "value": "50"},
         ["Acme Widgets", "Beta Gears"]),
        ({"operator": "BETWEEN", "propertyName": "numberofemployees", "value": "5",
          "highValue": "50"}, ["Acme Widgets", "Beta Gears"]),
        ({"operator": "IN", "propertyName": "domain", "values": ["beta.io", "delta.io"]},
         ["Beta Gears", "delta widgets"]),
        ({"operator": "IN", "propertyName": "name", "values": ["Gamma"]}, []),
        ({"operator": "NOT_IN", "propertyName": "domain", "values": ["beta.io"]},
         ["Acme Widgets", "Gamma", "delta widgets"]),
        ({"operator": "HAS_PROPERTY", "propertyName": "industry"}, ["Gamma"]),
        ({"operator": "NOT_HAS_PROPERTY", "propertyName": "domain"}, ["Gamma"]),
        ({"operator": "CONTAINS_TOKEN", "propertyName": "name", "value": "widgets"},
         ["Acme Widgets", "delta widgets"]),
        ({"operator": "CONTAINS_TOKEN", "propertyName": "name", "value": "gea*"}, ["Beta Gears"]),
    ],
)  # fmt: skip
async def test_operators(hs: httpx.AsyncClient, spec: dict[str, Any], expected: list[str]) -> None:
    assert await _names(hs, _where(spec)) == expected


@pytest.mark.usefixtures("companies")
async def test_filters_and_within_group_or_across_groups(hs: httpx.AsyncClient) -> None:
    widgets = {"operator": "CONTAINS_TOKEN", "propertyName": "name", "value": "widgets"}
    has_domain = {"operator": "EQ", "propertyName": "domain", "value": "acme.io"}
    assert await _names(hs, _where(widgets, has_domain)) == ["Acme Widgets"]
    groups = {"filterGroups": [{"filters": [has_domain]},
                               {"filters": [{"operator": "EQ", "propertyName": "name",
                                             "value": "gamma"}]}]}  # fmt: skip
    assert await _names(hs, groups) == ["Acme Widgets", "Gamma"]


@pytest.mark.usefixtures("companies")
async def test_sort_descending_and_default_creation_order(hs: httpx.AsyncClient) -> None:
    by_size = {"sorts": [{"propertyName": "numberofemployees", "direction": "DESCENDING"}]}
    assert await _names(hs, by_size) == ["Gamma", "Acme Widgets", "Beta Gears", "delta widgets"]
    assert await _names(hs, {}) == ["Acme Widgets", "Beta Gears", "Gamma", "delta widgets"]


async def test_modified_date_filter_and_archived_never_returned(
    hs: httpx.AsyncClient, companies: list[str], clock: ManualClock
) -> None:
    created = (await hs.get(f"/crm/v3/objects/companies/{companies[1]}")).json()
    since = created["properties"]["hs_lastmodifieddate"]
    await hs.delete(f"/crm/v3/objects/companies/{companies[2]}")
    spec = {"propertyName": "hs_lastmodifieddate", "operator": "GTE",
            "value": str(clock.now_ms() - 2_000)}  # fmt: skip
    assert since.endswith("Z")
    assert await _names(hs, _where(spec)) == ["Beta Gears", "delta widgets"]


async def test_paging_and_the_10000_cap(hs: httpx.AsyncClient, sandbox: Sandbox) -> None:
    companies = resolve_type("companies")
    seed_records(sandbox, companies, [{"name": f"Co {n}"} for n in range(10_050)], at_ms=5)
    base = {"limit": 200, "properties": ["name"],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]}  # fmt: skip
    first = (await hs.post(SEARCH, json=base)).json()
    assert first["total"] == 10_050
    assert len(first["results"]) == 200 and first["paging"]["next"]["after"] == "200"
    near_cap = (await hs.post(SEARCH, json={**base, "after": "9800"})).json()
    assert near_cap["results"][-1]["properties"]["name"] == "Co 9999"
    assert near_cap["paging"]["next"]["after"] == "10000"
    past_cap = await hs.post(SEARCH, json={**base, "after": "10000"})
    assert past_cap.status_code == 400
    assert past_cap.json()["category"] == "VALIDATION_ERROR"
    # Restarting with an id tie-break reaches the rest, as the adapter does.
    last_id = near_cap["results"][-1]["id"]
    spec = {"propertyName": "hs_object_id", "operator": "GT", "value": last_id}
    rest = (await hs.post(SEARCH, json={**base, **_where(spec)})).json()
    assert rest["total"] == 50 and "paging" not in rest


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},
        {"sorts": [{"propertyName": "name"}, {"propertyName": "domain"}]},
        {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "EQ", "value": "x"}]}
                          for _ in range(6)]},
        {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "EQ", "value": "x"}
                                       for _ in range(7)]}]},
        {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "LIKE"}]}]},
        {"after": "abc"},
        {"query": "x" * 3_000},
    ],
)  # fmt: skip
async def test_invalid_search_requests_are_400(hs: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await hs.post(SEARCH, json=body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


async def test_search_limit_is_per_second_without_headers(
    hs: httpx.AsyncClient, clock: ManualClock
) -> None:
    statuses = [(await hs.post(SEARCH, json={})).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    refused = await hs.post(SEARCH, json={})
    assert refused.json()["message"] == "You have reached your secondly limit."
    assert not [h for h in refused.headers if h.lower().startswith("x-hubspot-ratelimit")]
    ok = await hs.post(SEARCH, json={})
    assert ok.status_code == 429
    clock.advance(1_000)
    passed = await hs.post(SEARCH, json={})
    assert passed.status_code == 200
    assert not [h for h in passed.headers if h.lower().startswith("x-hubspot-ratelimit")]
    # Search is exempt from the 10-second burst window.
    listed = await hs.get("/crm/v3/objects/companies")
    assert listed.headers["X-HubSpot-RateLimit-Remaining"] == "189"


async def test_index_delay_hides_fresh_changes(
    hs: httpx.AsyncClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.update_switches({"search_index_delay_ms": 2_000})
    await hs.post("/crm/v3/objects/companies", json={"properties": {"name": "Fresh"}})
    assert (await hs.post(SEARCH, json={})).json()["total"] == 0
    clock.advance(2_000)
    assert (await hs.post(SEARCH, json={})).json()["total"] == 1
