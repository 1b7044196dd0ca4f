"""Settings, paths and setup decisions of the HubSpot adapter."""

from __future__ import annotations

import httpx
import pytest
import respx
from pydantic import SecretStr, ValidationError

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.paths import ApiPaths
from adapters.hubspot.settings import HubSpotSettings, TokenAuth
from adapters.hubspot.setup import setup
from connector.adapter import AdapterContext, NativeWrite
from connector.errors import ConfigurationError
from connector.http import LimiterRegistry
from connector.model import Entity

from .conftest import BASE, make_settings, mock_existing_properties


def test_paths_switch_between_v3_and_dated_versions():
    v3, dated = ApiPaths("v3"), ApiPaths("2026-03")
    assert v3.batch("companies", "upsert") == "/crm/v3/objects/companies/batch/upsert"
    assert dated.batch("companies", "upsert") == "/crm/objects/2026-03/companies/batch/upsert"
    assert v3.association_batch("deals", "companies", "create") == (
        "/crm/v4/associations/deals/companies/batch/create"
    )
    assert dated.association_batch("deals", "companies", "create") == (
        "/crm/associations/2026-03/deals/companies/batch/create"
    )
    assert dated.properties("contacts") == "/crm/properties/2026-03/contacts"
    with pytest.raises(ValueError, match="unknown HubSpot API version"):
        ApiPaths("v9")


@respx.mock
async def test_dated_version_is_used_by_every_call(clock):
    route = respx.post(f"{BASE}/crm/objects/2026-03/companies/batch/upsert").respond(
        json={"results": [{"id": "1", "objectWriteTraceId": "k", "properties": {}}]}
    )
    hub = HubSpotAdapter("hs", make_settings(api_version="2026-03"), registry=LimiterRegistry())
    await hub.open()
    try:
        [result] = await hub.upsert(Entity.CUSTOMER, [NativeWrite("k", None, {"name": "A"})])
    finally:
        await hub.close()
    assert result.ok and route.called


def test_token_comes_from_the_environment_and_never_shows(monkeypatch):
    monkeypatch.setenv("MY_HS_TOKEN", "pat-secret-value")
    auth = TokenAuth(token_env="MY_HS_TOKEN")
    assert auth.resolve_token().get_secret_value() == "pat-secret-value"
    assert "pat-secret-value" not in repr(HubSpotSettings(auth=auth))
    monkeypatch.delenv("MY_HS_TOKEN")
    with pytest.raises(ConfigurationError, match="MY_HS_TOKEN is not set"):
        auth.resolve_token()


def test_settings_validate_batch_size_and_from_settings_builds_the_adapter(tmp_path):
    with pytest.raises(ValidationError):
        HubSpotSettings(batch_size=101)
    settings = make_settings()
    hub = HubSpotAdapter.from_settings("crm", settings, AdapterContext(base_dir=tmp_path))
    assert hub.kind == "hubspot" and hub.name == "crm"
    assert hub.capabilities.upsert_matches == {e: "connector_key" for e in Entity}
    assert hub.capabilities.batch_size == 100 and hub.capabilities.deletes
    assert hub.webhook_verifier() is None  # no secret configured
    with_secret = make_settings(webhooks={"client_secrets": [SecretStr("s")]})
    assert HubSpotAdapter("crm", with_secret).webhook_verifier() is not None


def test_native_fields_name_properties_and_pseudo_fields():
    hub = HubSpotAdapter("crm", make_settings(extra_properties={"customer": ["erp_tax_id"]}))
    customer = hub.native_fields(Entity.CUSTOMER)
    assert customer is not None
    assert {"name", "erp_customer_no", "connector_key", "erp_tax_id"} <= customer
    assert "associations" not in customer
    sale = hub.native_fields(Entity.SALE)
    assert sale is not None
    assert {"lines", "associations.company", "associations.contact", "dealname"} <= sale
    contact = hub.native_fields(Entity.CONTACT)
    assert (
        contact is not None and "lastmodifieddate" in contact and "associations.company" in contact
    )


@respx.mock
async def test_setup_reports_an_existing_non_unique_key_property(adapter):
    mock_existing_properties([{"name": "connector_key", "hasUniqueValue": False}])
    created = respx.post(url__regex=rf"{BASE}/crm/v3/properties/\w+$").mock(
        side_effect=lambda request: httpx.Response(201, json={})
    )
    lines = await setup(adapter, {Entity.CUSTOMER: ["erp_segment", "associations.company"]})
    assert any("WARNING connector_key exists but is not unique" in line for line in lines)
    assert "companies: created property erp_segment" in lines
    names = {call.request.read().decode() for call in created.calls}
    assert not any('"name":"associations' in body for body in names)
