"""Fixtures for the Salesforce adapter: a key pair for the JWT bearer flow, the sandbox in
process (httpx.ASGITransport), and adapters opened against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from adapters.salesforce.adapter import SalesforceAdapter
from adapters.salesforce.sandbox import Sandbox, SandboxOptions, create_app
from adapters.salesforce.settings import SalesforceSettings
from connector.http import LimiterRegistry
from tests.salesforce.keys import make_key_pair

CONSUMER_KEY = "sandbox-consumer-key"
LOGIN = "http://login.sf.test"


@pytest.fixture(scope="session")
def key_pair() -> tuple[str, bytes]:
    return make_key_pair()


@pytest.fixture
def sandbox(key_pair: tuple[str, bytes]) -> Sandbox:
    return Sandbox(SandboxOptions(certificate_pem=key_pair[1], seed_demo_accounts=False))


def settings_for(key_pair: tuple[str, bytes], **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "login_url": LOGIN,
        "auth": {
            "kind": "jwt",
            "client_id": CONSUMER_KEY,
            "username": "integration@acme-corp.example",
            "private_key": key_pair[0],
        },
        "limits": {"max_attempts": 3, "max_elapsed_seconds": 5},
    }
    values.update(overrides)
    return SalesforceSettings.model_validate(values)


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)  # no waiting, but like any sleep it lets other tasks run (Bulk jobs)


@pytest.fixture
async def make_adapter(
    sandbox: Sandbox, key_pair: tuple[str, bytes]
) -> AsyncIterator[Callable[..., Any]]:
    opened: list[SalesforceAdapter] = []

    async def make(**overrides: Any) -> SalesforceAdapter:
        transport = httpx.ASGITransport(app=create_app(sandbox))
        adapter = SalesforceAdapter(
            "crm",
            settings_for(key_pair, **overrides),
            transport=transport,
            registry=LimiterRegistry(),
            sleep=_no_sleep,
        )
        await adapter.open()
        opened.append(adapter)
        return adapter

    yield make
    for adapter in opened:
        await adapter.close()
