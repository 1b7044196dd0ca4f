"""The sandbox's Owners API."""

from __future__ import annotations

import httpx

from adapters.hubspot.sandbox import create_app

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


async def test_the_owners_switch_replaces_the_list() -> None:
    app = create_app(owners=[{"id": "42", "email": "solo@example.com"}])
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as hs:
        assert [o["id"] for o in (await hs.get(OWNERS)).json()["results"]] == ["42"]
        bad = await hs.patch("/_sandbox/switches", json={"owners": [{"id": "x1"}]})
        assert bad.status_code == 400, "owner ids are numeric"
