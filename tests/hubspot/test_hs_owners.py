"""Owner ids ↔ e-mails (the `owner_email` pseudo-field) against a mocked Owners API.

HubSpot takes only owner ids in `hubspot_owner_id`; the adapter reads the owners list (paged,
cached, reloaded at most once per `owners_refresh_seconds` when something unknown turns up) to
fill `owner_email` on reads and to turn it back into an id on writes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import respx

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.owners import OWNERS_SCOPE
from adapters.hubspot.paths import ApiPaths
from adapters.hubspot.setup import setup
from connector.adapter import NativeWrite
from connector.model import Entity
from connector.testing.clock import FakeClock

from .conftest import BASE, mock_existing_properties

OWNERS = f"{BASE}/crm/v3/owners"
COMPANIES = f"{BASE}/crm/v3/objects/companies"


def owner(owner_id: str, email: str | None, *, archived: bool = False) -> dict[str, Any]:
    return {
        "id": owner_id,
        "email": email,
        "type": "PERSON",
        "firstName": "",
        "lastName": "",
        "userId": None if archived else int(owner_id) + 1,
        "userIdIncludingInactive": int(owner_id) + 1,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-01T00:00:00.000Z",
        "archived": archived,
        "teams": [],
    }


class OwnersApi:
    """A stand-in for `GET /crm/v3/owners`: pages of `page_size`, `archived` separates lists."""

    def __init__(self, owners: list[dict[str, Any]], page_size: int = 2) -> None:
        self.owners = owners
        self.page_size = page_size
        self.requests: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.requests.append(params)
        archived = params.get("archived") == "true"
        listed = [o for o in self.owners if o["archived"] == archived]
        start = int(params.get("after", "0"))
        page = listed[start : start + self.page_size]
        body: dict[str, Any] = {"results": page}
        if start + self.page_size < len(listed):
            body["paging"] = {"next": {"after": str(start + self.page_size)}}
        return httpx.Response(200, json=body)

    @property
    def listings(self) -> int:
        """How many times the whole list was loaded (each load starts with the active page)."""
        return sum(1 for p in self.requests if p.get("archived") == "false" and "after" not in p)


def companies_answer(*rows: tuple[str, str | None]) -> httpx.Response:
    results = [
        {
            "id": record_id,
            "properties": {"name": f"Co {record_id}", "hubspot_owner_id": owner_id},
            "updatedAt": "2026-01-01T00:00:00.000Z",
        }
        for record_id, owner_id in rows
    ]
    return httpx.Response(200, json={"status": "COMPLETE", "results": results})


def mock_reads(*rows: tuple[str, str | None]) -> None:
    respx.post(f"{COMPANIES}/batch/read").mock(return_value=companies_answer(*rows))


def mock_upsert() -> respx.Route:
    def answer(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        results = [
            {"id": str(100 + n), "new": True, "objectWriteTraceId": i["objectWriteTraceId"],
             "properties": i["properties"]}
            for n, i in enumerate(inputs)
        ]  # fmt: skip
        return httpx.Response(200, json={"status": "COMPLETE", "results": results})

    return respx.post(f"{COMPANIES}/batch/upsert").mock(side_effect=answer)


def sent_properties(route: respx.Route) -> list[dict[str, Any]]:
    return [
        i["properties"] for call in route.calls for i in json.loads(call.request.content)["inputs"]
    ]


STAFF = [
    owner("501", "alice@example.com"),
    owner("502", "bob@example.com"),
    owner("503", "carol@example.com"),
    owner("504", None),  # a queue-like owner with no e-mail
    owner("509", "gone@example.com", archived=True),
]


def test_the_owner_pseudo_field_is_declared_and_owners_have_a_dated_path(adapter):
    for entity in Entity:
        assert "owner_email" in (adapter.native_fields(entity) or ())
    assert ApiPaths().owners() == "/crm/v3/owners"
    assert ApiPaths().owner("501") == "/crm/v3/owners/501"
    assert ApiPaths("2026-03").owners() == "/crm/owners/2026-03"


@respx.mock
async def test_reads_fill_the_owner_email_from_every_page_of_owners(adapter: HubSpotAdapter):
    api = OwnersApi(STAFF, page_size=2)
    respx.get(OWNERS).mock(side_effect=api)
    mock_reads(("1", "503"), ("2", None), ("3", "509"), ("4", "504"), ("5", "777"))
    records = {r.id: r for r in await adapter.read(Entity.CUSTOMER, ["1", "2", "3", "4", "5"])}
    assert records["1"].fields["owner_email"] == "carol@example.com", "from the second page"
    assert records["2"].fields["owner_email"] is None, "no owner"
    assert records["3"].fields["owner_email"] == "gone@example.com", (
        "an archived (deactivated) owner still reads as its e-mail: deactivating a rep "
        "changes no record"
    )
    assert records["4"].fields["owner_email"] is None, "an owner without an e-mail"
    assert records["5"].fields["owner_email"] is None, "an id HubSpot does not list"
    assert records["1"].fields["hubspot_owner_id"] == "503", "the property itself stays"
    # Two pages of active owners (the second after the first's cursor), then the archived ones.
    assert [(p["archived"], p.get("after")) for p in api.requests] == [
        ("false", None), ("false", "2"), ("true", None),
    ]  # fmt: skip
    assert {p["limit"] for p in api.requests} == {"500"}
    assert api.listings == 1, "the unknown id 777 came with the first load: no reload yet"


@respx.mock
async def test_the_owner_list_is_cached_and_reloaded_at_most_once_per_period(
    adapter: HubSpotAdapter, clock: FakeClock
):
    api = OwnersApi([owner("501", "alice@example.com")], page_size=10)
    respx.get(OWNERS).mock(side_effect=api)
    mock_reads(("1", "501"))
    await adapter.read(Entity.CUSTOMER, ["1"])
    await adapter.read(Entity.CUSTOMER, ["1"])
    assert api.listings == 1, "known ids are answered from the cache"

    # A rep added in HubSpot: an id the cache does not know reloads it, once the period is over.
    api.owners.append(owner("502", "bob@example.com"))
    respx.post(f"{COMPANIES}/batch/read").mock(return_value=companies_answer(("2", "502")))
    [early] = await adapter.read(Entity.CUSTOMER, ["2"])
    assert early.fields["owner_email"] is None and api.listings == 1, "within the period"
    clock.now += adapter.settings.owners_refresh_seconds
    [late] = await adapter.read(Entity.CUSTOMER, ["2"])
    assert late.fields["owner_email"] == "bob@example.com" and api.listings == 2
    # Still unknown after a reload: no further reload until the next period.
    respx.post(f"{COMPANIES}/batch/read").mock(return_value=companies_answer(("3", "999")))
    await adapter.read(Entity.CUSTOMER, ["3"])
    assert api.listings == 2


@respx.mock
async def test_writes_send_owner_ids_and_leave_out_unknown_emails_with_one_warning(
    adapter: HubSpotAdapter, clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    api = OwnersApi(STAFF, page_size=10)
    respx.get(OWNERS).mock(side_effect=api)
    upsert = mock_upsert()
    writes = [
        NativeWrite("k1", None, {"name": "A", "owner_email": "Alice@Example.com"}),
        NativeWrite("k2", None, {"name": "B", "owner_email": "dave@example.com"}),
        NativeWrite("k3", None, {"name": "C", "owner_email": None}),
        NativeWrite("k4", None, {"name": "D", "owner_email": "gone@example.com"}),
        NativeWrite("k5", None, {"name": "E", "owner_email": "dave@example.com"}),
        NativeWrite("k6", None, {"name": "F", "owner_email": "bob@example.com",
                                 "hubspot_owner_id": "503"}),
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="adapters.hubspot.owners"):
        results = await adapter.upsert(Entity.CUSTOMER, writes)
        clock.now += adapter.settings.owners_refresh_seconds
        await adapter.upsert(Entity.CUSTOMER, writes[1:2])  # met again, a period later
    assert all(r.ok for r in results), "an unknown owner never fails the record"
    sent = {p["connector_key"]: p for p in sent_properties(upsert)}
    assert sent["k1"]["hubspot_owner_id"] == "501", "matched case-insensitively"
    assert "hubspot_owner_id" not in sent["k2"], "no owner with that e-mail: left out"
    assert sent["k3"]["hubspot_owner_id"] == "", "no owner clears it"
    assert "hubspot_owner_id" not in sent["k4"], "an archived owner is no option"
    assert sent["k6"]["hubspot_owner_id"] == "503", "the property, mapped explicitly, wins"
    assert not any("owner_email" in p for p in sent.values()), "never sent as a property"
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([m for m in warned if "dave@example.com" in m]) == 1, warned
    assert len([m for m in warned if "gone@example.com" in m]) == 1, warned
    assert api.listings == 2, "the first load, then one reload a period later; one warning"


@respx.mock
async def test_writes_without_an_owner_email_never_list_owners(adapter: HubSpotAdapter):
    listing = respx.get(OWNERS).respond(json={"results": []})
    mock_upsert()
    mock_reads(("1", None))
    await adapter.upsert(Entity.CUSTOMER, [NativeWrite("k", None, {"name": "A"})])
    await adapter.read(Entity.CUSTOMER, ["1"])
    assert not listing.called


MISSING_SCOPES = {
    "status": "error",
    "message": "This app hasn't been granted all required scopes to make this call.",
    "correlationId": "c0ffee00-0000-4000-8000-000000000000",
    "category": "MISSING_SCOPES",
    "errors": [
        {
            "message": "One or more of the following scopes are required.",
            "context": {"requiredGranularScopes": [OWNERS_SCOPE]},
        }
    ],
}


@respx.mock
async def test_without_the_owners_scope_the_owner_waits_and_everything_else_syncs(
    adapter: HubSpotAdapter, caplog: pytest.LogCaptureFixture
):
    listing = respx.get(OWNERS).respond(403, json=MISSING_SCOPES)
    upserted = mock_upsert()
    write = NativeWrite("k", None, {"name": "Acme", "owner_email": "alice@example.com"})
    with caplog.at_level(logging.WARNING, logger="adapters.hubspot.owners"):
        [result] = await adapter.upsert(Entity.CUSTOMER, [write])
        # The record is saved without an owner, and the owner is reported not written, with
        # the scope the owners list needs.
        assert result.ok and result.external_id == "100"
        assert OWNERS_SCOPE in result.unwritten["owner_email"]
        sent = json.loads(upserted.calls.last.request.content)["inputs"][0]["properties"]
        assert sent["name"] == "Acme" and "hubspot_owner_id" not in sent

        # Reads leave the owner out (it waits) rather than reading it as empty.
        mock_reads(("1", "501"))
        [record] = await adapter.read(Entity.CUSTOMER, ["1"])
        assert "owner_email" not in record.fields and record.fields["hubspot_owner_id"] == "501"
    warnings = [r for r in caplog.records if "owners could not be listed" in r.getMessage()]
    assert len(warnings) == 1 and OWNERS_SCOPE in warnings[0].getMessage()
    assert listing.call_count <= 2, "a failed listing is not retried for every batch"


@respx.mock
async def test_an_unknown_owner_email_is_reported_unwritten_not_dropped(adapter: HubSpotAdapter):
    respx.get(OWNERS).mock(side_effect=OwnersApi(STAFF))
    mock_upsert()
    writes = [
        NativeWrite("a", None, {"owner_email": "dave@example.com"}),
        NativeWrite("b", None, {"owner_email": "gone@example.com"}),
        NativeWrite("c", None, {"owner_email": "Alice@Example.com"}),
    ]
    a, b, c = await adapter.upsert(Entity.CUSTOMER, writes)
    assert "dave@example.com" in a.unwritten["owner_email"] and not a.unwritten_for_now
    assert "owner_email" in b.unwritten, "an archived owner is no option for a write"
    assert c.ok and not c.unwritten
    assert await adapter.owners.unknown_emails(["dave@example.com", "bob@example.com"]) == [
        "dave@example.com"
    ]


@respx.mock
async def test_setup_creates_no_owner_email_property_and_checks_the_owners_scope(adapter):
    keys = ("connector_key", "erp_customer_no", "erp_contact_no", "erp_order_no")
    mock_existing_properties([{"name": n, "hasUniqueValue": True} for n in keys])
    created = respx.post(url__regex=rf"{BASE}/crm/v3/properties/\w+$").respond(201, json={})
    respx.get(OWNERS).mock(side_effect=OwnersApi(STAFF))
    lines = await setup(adapter, {Entity.CUSTOMER: ["name", "owner_email"]})
    assert not any(b"owner_email" in call.request.content for call in created.calls)
    assert any(line.startswith("owners: 3 active owners") for line in lines), lines

    respx.get(OWNERS).respond(403, json=MISSING_SCOPES)
    lines = await setup(adapter, {Entity.CUSTOMER: ["name", "owner_email"]})
    [warning] = [line for line in lines if line.startswith("owners:")]
    assert "WARNING" in warning and OWNERS_SCOPE in warning
    # Mappings that do not use the pseudo-field need no owners scope at all.
    respx.get(OWNERS).respond(500)
    lines = await setup(adapter, {Entity.CUSTOMER: ["name", "hubspot_owner_id"]})
    assert not any(line.startswith("owners:") for line in lines)
