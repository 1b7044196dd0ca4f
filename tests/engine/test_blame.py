"""`Blamed`: what escapes an adapter names the system and the step; nothing else changes."""

from __future__ import annotations

import pytest

from connector.engine.blame import Blamed, RunFailure
from connector.errors import ConfigurationError
from connector.model import Entity


class Adapter:
    def __init__(self) -> None:
        self.closed = False
        self.name = "inner"

    async def upsert(self, entity, writes):
        raise ConfigurationError("HTTP 403: missing scopes")

    async def read_changes(self, entity, since):
        try:
            yield 1
            yield 2
            raise ConfigurationError("HTTP 401")
        finally:
            self.closed = True


async def test_a_failed_write_names_the_system_and_the_step():
    blamed = Blamed(Adapter(), "crm")
    with pytest.raises(ConfigurationError) as caught:
        await blamed.upsert(Entity.CONTACT, [])
    failure = RunFailure.of(caught.value)
    assert (failure.system, failure.step) == ("crm", "write contact")
    assert failure.sentence() == "crm, write contact: HTTP 403: missing scopes"
    assert RunFailure.from_text(failure.to_text()) == failure
    assert RunFailure.from_text("a message from an older run") == RunFailure(
        "a message from an older run"
    )


async def test_a_failed_read_is_tagged_and_an_early_stop_closes_the_adapter_generator():
    inner = Adapter()
    blamed = Blamed(inner, "erp")
    assert blamed.name == "inner"  # everything else passes through
    with pytest.raises(ConfigurationError) as caught:
        async for _ in blamed.read_changes(Entity.CUSTOMER, None):
            pass
    assert RunFailure.of(caught.value).step == "read customer changes"

    inner = Adapter()
    pages = Blamed(inner, "erp").read_changes(Entity.CUSTOMER, None)
    assert await anext(pages) == 1
    await pages.aclose()
    assert inner.closed
