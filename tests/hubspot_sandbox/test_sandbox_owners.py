"""The sandbox's Owners API and its owner properties, which take only owner ids."""

from __future__ import annotations

import httpx
import pytest

from adapters.hubspot.sandbox import Sandbox, create_app

from .conftest import BASE, TOKEN

ALICE, BOB, CAROL = "71000001", "71000002", "71000003"
OWNERS = "/crm/v3/owners"


async def test_the_default_owners_are_listed_in_hubspots_shape(hs: httpx.AsyncClient) -> None:
    answer = await hs.get(OWNERS)
    assert answer.status_code == 200, answer.text
    owners = answer.json()["results"]
    assert [(o["id"], o["email"]) for o in owners] == [
        (ALICE, "alice@example.com"),
        (BOB, "bob@example.com"),
        (CAROL, "carol@example.com"),
    ]
    alice = owners[0]
    assert alice["type"] == "PERSON" and alice["archived"] is False
    assert alice["firstName"] == "Alice" and isinstance(alice["userId"], int)
    assert alice["userId"] != int(alice["id"]), "the user id is not the owner id"
    assert alice["userIdIncludingInactive"] == alice["userId"]
    assert {"createdAt", "updatedAt", "teams", "lastName"} <= set(alice)
    assert "paging" not in answer.json()
    # The docs write the path with a trailing slash; the dated prefix answers too.
    assert (await hs.get(OWNERS + "/")).json()["results"] == owners
    assert (await hs.get("/crm/owners/2026-03")).json()["results"] == owners


async def test_paging_with_after_and_limit(hs: httpx.AsyncClient) -> None:
    first = (await hs.get(OWNERS, params={"limit": 2})).json()
    assert [o["id"] for o in first["results"]] == [ALICE, BOB]
    after = first["paging"]["next"]["after"]
    second = (await hs.get(OWNERS, params={"limit": 2, "after": after})).json()
    assert [o["id"] for o in second["results"]] == [CAROL] and "paging" not in second

    too_many = await hs.get(OWNERS, params={"limit": 501})
    assert too_many.status_code == 400
    assert "Must be less than or equal to 500" in too_many.text
    assert (await hs.get(OWNERS, params={"limit": 500})).status_code == 200
    assert (await hs.get(OWNERS, params={"limit": 0})).status_code == 400


async def test_the_email_filter_and_reading_one_owner(hs: httpx.AsyncClient) -> None:
    found = (await hs.get(OWNERS, params={"email": "bob@example.com"})).json()["results"]
    assert [o["id"] for o in found] == [BOB]
    assert (await hs.get(OWNERS, params={"email": "nobody@example.com"})).json()["results"] == []

    bob = (await hs.get(f"{OWNERS}/{BOB}")).json()
    assert bob["email"] == "bob@example.com"
    by_user = await hs.get(f"{OWNERS}/{bob['userId']}", params={"idProperty": "userId"})
    assert by_user.status_code == 200 and by_user.json()["id"] == BOB
    assert (await hs.get(f"{OWNERS}/{bob['userId']}")).status_code == 404, "not an owner id"
    assert (await hs.get(f"{OWNERS}/123")).status_code == 404


async def test_an_archived_owner_is_listed_only_with_archived_true(hs: httpx.AsyncClient) -> None:
    gone = await hs.delete(f"/_sandbox/owners/{BOB}")
    assert gone.status_code == 200 and gone.json()["archived"] is True
    active = (await hs.get(OWNERS)).json()["results"]
    assert [o["id"] for o in active] == [ALICE, CAROL]
    [archived] = (await hs.get(OWNERS, params={"archived": "true"})).json()["results"]
    assert archived["id"] == BOB and archived["email"] == "bob@example.com"
    assert archived["userId"] is None and archived["userIdIncludingInactive"]
    assert (await hs.get(f"{OWNERS}/{BOB}")).status_code == 404
    assert (await hs.get(f"{OWNERS}/{BOB}", params={"archived": "true"})).status_code == 200
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
        assert [o["value"] for o in definition["options"]] == [ALICE, BOB, CAROL]
        assert definition["options"][0]["label"] == "Alice Archer"


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
        f"alice@example.com was not one of the allowed options: [{ALICE}, {BOB}, {CAROL}]"
    )

    created = await hs.post(path, json={"properties": {**properties, "hubspot_owner_id": ALICE}})
    assert created.status_code == 201, created.text
    record = created.json()["id"]
    read = await hs.get(f"{path}/{record}", params={"properties": "hubspot_owner_id"})
    assert read.json()["properties"]["hubspot_owner_id"] == ALICE
    cleared = await hs.patch(f"{path}/{record}", json={"properties": {"hubspot_owner_id": ""}})
    assert cleared.status_code == 200, cleared.text


async def test_batches_refuse_a_bad_owner_per_input(hs: httpx.AsyncClient) -> None:
    answer = await hs.post(
        "/crm/v3/objects/companies/batch/create",
        json={
            "inputs": [
                {"properties": {"name": "A", "hubspot_owner_id": BOB}, "objectWriteTraceId": "a"},
                {"properties": {"name": "B", "hubspot_owner_id": "9100002"},  # a user id
                 "objectWriteTraceId": "b"},
            ]
        },
    )  # fmt: skip
    assert answer.status_code == 207, answer.text
    body = answer.json()
    assert [r["properties"]["hubspot_owner_id"] for r in body["results"]] == [BOB]
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
    assert dave == "71000004", "the next free id"
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
    assert len((await hs.get(OWNERS)).json()["results"]) == 3
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
