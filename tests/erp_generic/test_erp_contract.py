"""The shared adapter contract suite, run against erp_generic in SQL mode (SQLite, PostgreSQL
and MariaDB) and in REST mode (the local REST ERP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connector.testing.contract import *  # noqa: F403
from connector.testing.contract import ContractHarness
from tests.erp_generic.conftest import (
    SQL_DATABASES,
    StepClock,
    build_adapter,
    database_url,
    fill_sample,
)
from tests.erp_generic.rest_erp import TOKEN, ErpState
from tests.erp_generic.test_erp_rest import make_adapter, settings_block


@pytest.fixture(params=[*SQL_DATABASES, "rest"])
async def harness(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ContractHarness]:
    if request.param != "rest":
        url = database_url(request, tmp_path, request.param)
        fill_sample(url)
        adapter = build_adapter(url, tmp_path, clock=StepClock(), page_size=5)
        await adapter.open()
        yield ContractHarness(
            adapter,
            new_fields=lambda n: {"customer_no": f"CT-{n}", "name": f"Contract {n}"},
            lookup_field="customer_no",
            bad_fields={"name": "no customer number"},  # customer_no is NOT NULL
            changed_fields=lambda n: {"industry": f"Industry {n}"},
        )
    else:
        monkeypatch.setenv("ERP_TEST_TOKEN", TOKEN)
        adapter = make_adapter(ErpState(), settings_block("cursor"))
        await adapter.open()
        yield ContractHarness(
            adapter,
            new_fields=lambda n: {"name": f"Contract {n}"},
            lookup_field="name",
            bad_fields={"name": ""},  # the REST ERP answers 422
        )
    await adapter.close()
