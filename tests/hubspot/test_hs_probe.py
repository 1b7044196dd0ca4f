"""`HubSpotAdapter.probe()`: one cheap read per object type, and a clear sentence for each way
it goes wrong (HubSpot's 403 names the missing scopes in `context.requiredGranularScopes`)."""

from __future__ import annotations

import httpx
import respx

from adapters.hubspot.adapter import HubSpotAdapter
from connector.model import Entity
from tests.hubspot.conftest import BASE

ALL = frozenset(Entity)


def objects_answer(status: int = 200, body: dict | None = None) -> None:
    for object_type in ("companies", "contacts", "deals", "line_items"):
        respx.get(f"{BASE}/crm/v3/objects/{object_type}").respond(
            status, json=body if body is not None else {"results": []}
        )


@respx.mock
async def test_a_healthy_account_has_no_problems(adapter: HubSpotAdapter):
    objects_answer()
    key = respx.get(url__regex=rf"{BASE}/crm/v3/properties/\w+/connector_key").respond(
        json={"name": "connector_key"}
    )
    assert await adapter.probe(ALL) == []
    assert key.call_count == 3  # companies, contacts, deals


@respx.mock
async def test_missing_scopes_are_named(adapter: HubSpotAdapter):
    respx.get(f"{BASE}/crm/v3/objects/contacts").respond(
        403,
        json={
            "status": "error",
            "category": "MISSING_SCOPES",
            "message": "This app hasn't been granted all required scopes to make this call.",
            "errors": [{"context": {"requiredGranularScopes": ["crm.objects.contacts.read"]}}],
        },
    )
    (problem,) = await adapter.probe(frozenset({Entity.CONTACT}))
    assert problem.location == "systems.hubspot"
    assert "crm.objects.contacts.read" in problem.message
    assert "grant the private app or service key the missing scopes" in problem.message


@respx.mock
async def test_a_portal_not_set_up_is_told_to_run_setup(adapter: HubSpotAdapter):
    objects_answer()
    respx.get(url__regex=rf"{BASE}/crm/v3/properties/\w+/connector_key").respond(
        404, json={"status": "error", "category": "OBJECT_NOT_FOUND", "message": "not found"}
    )
    (problem,) = await adapter.probe(frozenset({Entity.CUSTOMER}))
    assert "no 'connector_key' property on companies" in problem.message
    assert "run `connector hubspot setup` once" in problem.message


@respx.mock
async def test_an_unreachable_host_is_one_attempt_and_names_the_base_url(
    adapter: HubSpotAdapter,
):
    route = respx.get(f"{BASE}/crm/v3/objects/companies").mock(
        side_effect=httpx.ConnectError("refused")
    )
    (problem,) = await adapter.probe(frozenset({Entity.CUSTOMER}))
    assert route.call_count == 1  # no minute of back-off before saying so
    assert f"HubSpot is not reachable at {BASE}" in problem.message
    assert "settings.base_url" in problem.message
