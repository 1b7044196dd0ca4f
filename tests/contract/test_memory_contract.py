"""The in-memory adapter passes the shared adapter contract suite (as every adapter must)."""

from __future__ import annotations

import pytest

from connector.testing.contract import *  # noqa: F403
from connector.testing.contract import ContractHarness
from connector.testing.memory import MemoryAdapter, MemorySettings, RejectRule


@pytest.fixture
async def harness():
    adapter = MemoryAdapter(
        "memory",
        MemorySettings(reject=[RejectRule(field="name", value="REFUSED", message="refused")]),
    )
    await adapter.open()
    yield ContractHarness(
        adapter,
        new_fields=lambda n: {"number": f"N{n}", "name": f"Company {n}"},
        lookup_field="number",
        bad_fields={"number": "X", "name": "REFUSED"},
    )
    await adapter.close()
