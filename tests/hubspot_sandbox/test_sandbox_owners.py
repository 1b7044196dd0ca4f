"""The sandbox's Owners API and its owner properties, which take only owner ids."""

from __future__ import annotations

import httpx
import pytest

from adapters.hubspot.sandbox import Sandbox, create_app

from .conftest import BASE, TOKEN

# The sandbox's default sales team: deliberately not the sample ERP's crm_owner e-mails.
JORDAN, PRIYA, TOMAS, SAM = "82000101", "82000102", "82000103", "82000104"
JORDAN_MAIL = "jordan.blake@northwind-trading.test"
PRIYA_MAIL = "priya.nair@northwind-trading.test"
TOMAS_MAIL = "tomas.weber@northwind-trading.test"
SAM_MAIL = "sam.okafor@northwind-trading.test"
OWNERS = "/crm/v3/owners"
SAMPLE_ERP_OWNERS = ("alice@example.com", "bob@example.com", "carol@example.com")


async def test_the_default_owners_are_listed_in_hubspots_shape(hs: httpx.AsyncClient) -> None:
    answer = await hs.get(OWNERS)
    assert answer.status_code == 200, answer.text
    owners = answer.json()["results"]
    assert [(o["id"], o["email"]) for o in owners] == [
        (JORDAN, JORDAN_MAIL),
        (PRIYA, PRIYA_MAIL),
        (TOMAS, TOMAS_MAIL),
    ]
    jordan = owners[0]
    assert jordan["type"] == "PERSON" and jordan["archived"] is False
    assert jordan["firstName"] == "Jordan" and isinstance(jordan["userId"], int)
    assert jordan["userId"] != int(jordan["id"]), "the user id is not the owner id"
    assert jordan["userIdIncludingInactive"] == jordan["userId"]
    assert {"createdAt", "updatedAt", "teams", "lastName"} <= set(jordan)
    assert "paging" not in answer.json()
    # The docs write the path with a trailing slash; the dated prefix answers too.
    assert (await hs.get(OWNERS + "/")).json()["results"] == owners
    assert (await hs.get("/crm/owners/2026-03")).json()["results"] == owners


async def test_the_defaults_share_no_owner_with_the_sample_erp(hs: httpx.AsyncClient) -> None:
    """A sandbox whose owners are the sample's agrees with it by construction (issue 11)."""
    listed = (await hs.get(OWNERS)).json()["results"]
    archived = (await hs.get(OWNERS, params={"archived": "true"})).json()["results"]
    emails = {o["email"] for o in [*listed, *archived]}
    assert emails.isdisjoint(SAMPLE_ERP_OWNERS)
    # One deactivated user, as real portals have: listed only with archived=true.
    assert [(o["id"], o["email"], o["userId"]) for o in archived] == [(SAM, SAM_MAIL, None)]


async def test_paging_with_after_and_limit(hs: httpx.AsyncClient) -> None:
    first = (await hs.get(OWNERS, params={"limit": 2})).json()
    assert [o["id"] for o in first["results"]] == [JORDAN, PRIYA]
    after = first["paging"]["next"]["after"]
    second = (await hs.get(OWNERS, params={"limit": 2, "after": after})).json()
    assert [o["id"] for o in second["results"]] == [TOMAS] and "paging" not in second

    too_many = await hs.get(OWNERS, params={"limit": 501})
    assert too_many.status_code == 400
    assert "Must be less than or equal to 500" in too_many.text
    assert (await hs.get(OWNERS, params={"limit": 500})).status_code == 200
    assert (await hs.get(OWNERS, params={"limit": 0})).status_code == 400


async def test_the_email_filter_and_reading_one_owner(hs: httpx.AsyncClient) -> None:
    found = (await hs.get(OWNERS, params={"email": PRIYA_MAIL})).json()["results"]
    assert [o["id"] for o in found] == [PRIYA]
    assert (await hs.get(OWNERS, params={"email": "bob@example.com"})).json()["results"] == []

    priya = (await hs.get(f"{OWNERS}/{PRIYA}")).json()
    assert priya["email"] == PRIYA_MAIL
    by_user = await hs.get(f"{OWNERS}/{priya['userId']}", params={"idProperty": "userId"})
    assert by_user.status_code == 200 and by_user.json()["id"] == PRIYA
    assert (await hs.get(f"{OWNERS}/{priya['userId']}")).status_code == 404, "not an owner id"
    assert (await hs.get(f"{OWNERS}/123")).status_code == 404


async def test_an_archived_owner_is_listed_only_with_archived_true(hs: httpx.AsyncClient) -> None:
    gone = await hs.delete(f"/_sandbox/owners/{PRIYA}")
    assert gone.status_code == 200 and gone.json()["archived"] is True
    active = (await hs.get(OWNERS)).json()["results"]
    assert [o["id"] for o in active] == [JORDAN, TOMAS]
    archived = (await hs.get(OWNERS, params={"archived": "true"})).json()["results"]
    assert [o["id"] for o in archived] == [PRIYA, SAM]
    assert archived[0]["email"] == PRIYA_MAIL
    assert archived[0]["userId"] is None and archived[0]["userIdIncludingInactive"]
    assert (await hs.get(f"{OWNERS}/{PRIYA}")).status_code == 404
    assert (await hs.get(f"{OWNERS}/{PRIYA}", params={"archived": "true"})).status_code == 200
    assert (await hs.delete("/_sandbox/owners/999")).status_code == 404


async def test_the_owners_api_needs_a_token(sandbox_app) -> None:
    transport = httpx.ASGITransport(app=sandbox_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as anonymous:
        assert (await anonymous.get(OWNERS)).status_code == 401


async def test_the_owner_property_is_an_enumeration_of_the_owners(hs: httpx.AsyncClient) -> None:
    for object_type in ("companies", "contacts", "deals"):
        answer = await hs.get(f"/crm/v3/properties/{object_type}/hubspot_owner_id")
        assert answer.status_code == 200, answer.text
        definition = answer.json()
        assert definition["type"] == "enumeration" and definition["externalOptions"] is True
        assert definition["referencedObjectType"] == "OWNER"
        assert [o["value"] for o in definition["options"]] == [JORDAN, PRIYA, TOMAS]
        assert definition["options"][0]["label"] == "Jordan Blake"


@pytest.mark.parametrize(
    ("object_type", "properties"),
    [
        ("companies", {"name": "Acme"}),
        ("contacts", {"email": "pat@acme.test"}),
        ("deals", {"dealname": "D", "dealstage": "appointmentscheduled", "pipeline": "default"}),
    ],
)
async def test_an_owner_id_is_accepted_and_an_email_refused_as_invalid_option(
    hs: httpx.AsyncClient, object_type: str, properties: dict[str, str]
) -> None:
    path = f"/crm/v3/objects/{object_type}"
    refused = await hs.post(
        path, json={"properties": {**properties, "hubspot_owner_id": "alice@example.com"}}
    )
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["category"] == "VALIDATION_ERROR"
    [error] = body["errors"]
    assert error["code"] == "INVALID_OPTION"
    assert error["context"]["propertyName"] == ["hubspot_owner_id"]
    assert error["message"] == (
        f"alice@example.com was not one of the allowed options: [{JORDAN}, {PRIYA}, {TOMAS}]"
    )
    archived = await hs.post(path, json={"properties": {**properties, "hubspot_owner_id": SAM}})
    assert archived.status_code == 400, "a deactivated user's owner id is no option"

    created = await hs.post(path, json={"properties": {**properties, "hubspot_owner_id": JORDAN}})
    assert created.status_code == 201, created.text
    record = created.json()["id"]
    read = await hs.get(f"{path}/{record}", params={"properties": "hubspot_owner_id"})
    assert read.json()["properties"]["hubspot_owner_id"] == JORDAN
    cleared = await hs.patch(f"{path}/{record}", json={"properties": {"hubspot_owner_id": ""}})
    assert cleared.status_code == 200, cleared.text


async def test_batches_refuse_a_bad_owner_per_input(hs: httpx.AsyncClient) -> None:
    answer = await hs.post(
        "/crm/v3/objects/companies/batch/create",
        json={
            "inputs": [
                {"properties": {"name": "A", "hubspot_owner_id": PRIYA}, "objectWriteTraceId": "a"},
                {"properties": {"name": "B", "hubspot_owner_id": "5300102"},  # a user id
                 "objectWriteTraceId": "b"},
            ]
        },
    )  # fmt: skip
    assert answer.status_code == 207, answer.text
    body = answer.json()
    assert [r["properties"]["hubspot_owner_id"] for r in body["results"]] == [PRIYA]
    [error] = body["errors"]
    assert error["context"]["objectWriteTraceId"] == ["b"] and "INVALID_OPTION" in str(error)


async def test_owners_added_and_archived_change_what_is_allowed(
    hs: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    added = await hs.post(
        "/_sandbox/owners", json={"email": "dave@example.com", "firstName": "Dave"}
    )
    assert added.status_code == 201, added.text
    dave = added.json()["id"]
    assert dave == "82000105", "the next free id"
    ok = await hs.post(
        "/crm/v3/objects/companies", json={"properties": {"name": "D", "hubspot_owner_id": dave}}
    )
    assert ok.status_code == 201, ok.text
    duplicate = await hs.post("/_sandbox/owners", json={"email": "dave@example.com"})
    assert duplicate.status_code == 400, "active owners have distinct e-mails"

    await hs.delete(f"/_sandbox/owners/{dave}")
    refused = await hs.post(
        "/crm/v3/objects/companies", json={"properties": {"name": "E", "hubspot_owner_id": dave}}
    )
    assert refused.status_code == 400 and "INVALID_OPTION" in refused.text
    # The company that already has Dave keeps his id.
    dumped = (await hs.get("/_sandbox/objects/companies")).json()["results"]
    assert [c["properties"].get("hubspot_owner_id") for c in dumped] == [dave]

    # The owners are configuration: a reset empties the records but keeps them.
    await hs.post("/_sandbox/reset")
    assert len((await hs.get(OWNERS)).json()["results"]) == 3, "Jordan, Priya, Tomas"
    assert [o.id for o in sandbox.options.owners][-1] == dave


async def test_the_owners_switch_replaces_the_list() -> None:
    app = create_app(owners=[{"id": "42", "email": "solo@example.com"}])
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as hs:
        assert [o["id"] for o in (await hs.get(OWNERS)).json()["results"]] == ["42"]
        switched = await hs.patch("/_sandbox/switches", json={"owners": []})
        assert switched.status_code == 200, switched.text
        refused = await hs.post(
            "/crm/v3/objects/deals",
            json={"properties": {"dealname": "D", "dealstage": "closedwon",
                                 "pipeline": "default", "hubspot_owner_id": "42"}},
        )  # fmt: skip
        assert refused.status_code == 400 and "INVALID_OPTION" in refused.text
        bad = await hs.patch("/_sandbox/switches", json={"owners": [{"id": "x1"}]})
        assert bad.status_code == 400, "owner ids are numeric"
