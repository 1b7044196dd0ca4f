"""Fixtures for the HubSpot adapter tests: a fake clock and an adapter wired to respx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import respx
from pydantic import SecretStr

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.settings import HubSpotSettings, TokenAuth, WebhookSettings
from connector.http import LimiterRegistry
from connector.testing.clock import FakeClock

BASE = "https://api.hubapi.com"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=5000.0)


def make_settings(**overrides: Any) -> HubSpotSettings:
    values: dict[str, Any] = {
        "auth": TokenAuth(token=SecretStr("pat-test-token"), token_env=None),
        "webhooks": WebhookSettings(client_secret_envs=[]),
    }
    values.update(overrides)
    return HubSpotSettings(**values)


@pytest.fixture
async def adapter(clock: FakeClock) -> AsyncIterator[HubSpotAdapter]:
    hub = HubSpotAdapter(
        "hubspot", make_settings(), registry=LimiterRegistry(), clock=clock, sleep=clock.sleep
    )
    await hub.open()
    yield hub
    await hub.close()


def mock_existing_properties(properties: list[dict[str, Any]]) -> None:
    """respx: every object type has the `erp_sync` group and these properties already."""
    for object_type in ("companies", "contacts", "deals", "line_items"):
        respx.get(f"{BASE}/crm/v3/properties/{object_type}/groups").respond(
            json={"results": [{"name": "erp_sync"}]}
        )
        respx.get(f"{BASE}/crm/v3/properties/{object_type}").respond(json={"results": properties})
