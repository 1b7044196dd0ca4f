"""Connection resets against the sandbox: reads and safe writes are repeated, the rest redone
from a fresh read or as a new job — every record lands once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest
import uvicorn

from adapters.salesforce.sandbox import Reset, Sandbox, SandboxOptions, create_app
from connector.adapter import NativeWrite
from connector.listen import bind
from connector.model import Entity
from tests.e2e.conftest import HANG_SECONDS
from tests.salesforce.test_sf_against_sandbox import accounts


def keys(sandbox: Sandbox) -> Counter[str]:
    return Counter(row["Connector_Key__c"] for row in sandbox.org.live("Account"))


def resets(sandbox: Sandbox) -> int:
    return sum(1 for e in sandbox.log if e.get("fault") == "reset")


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_reset_query_is_read_again(make_adapter, sandbox, when):
    adapter = await make_adapter()
    made = await adapter.upsert(Entity.CUSTOMER, accounts(3))
    sandbox.resets.append(Reset("/query", 1, when))
    records = await adapter.read(Entity.CUSTOMER, [r.external_id for r in made])
    assert len(records) == 3 and resets(sandbox) == 1


async def test_an_upsert_by_external_id_whose_answer_is_lost_is_sent_again(make_adapter, sandbox):
    adapter = await make_adapter()
    sandbox.resets.append(Reset("/composite/sobjects/Account/Connector_Key__c", 1, "after"))
    results = await adapter.upsert(Entity.CUSTOMER, accounts(5))
    assert all(r.ok for r in results) and resets(sandbox) == 1
    assert keys(sandbox) == Counter({f"k{i}": 1 for i in range(5)}), "no duplicates"


async def test_lines_whose_composite_answer_is_lost_are_replaced_from_a_fresh_read(
    make_adapter, sandbox
):
    sandbox.add_product("A", "Product A", 10)
    adapter = await make_adapter()
    [account] = await adapter.upsert(Entity.CUSTOMER, accounts(1))
    fields = {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31",
              "AccountId": account.external_id,
              "lines": [{"ProductCode": "A", "Quantity": q} for q in (1, 2)]}  # fmt: skip
    sandbox.resets.append(Reset("/composite", 1, "after", "POST"))
    [sale] = await adapter.upsert(Entity.SALE, [NativeWrite("s1", None, fields)])
    assert sale.ok and resets(sandbox) == 1
    lines = [r for r in sandbox.org.live("OpportunityLineItem")]
    assert sorted(r["Quantity"] for r in lines) == [1, 2], "the lost call's lines are gone"


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/jobs/ingest"), ("PUT", "/batches"), ("PATCH", "/jobs/ingest/")]
)
async def test_a_bulk_job_whose_answer_is_lost_before_it_runs_lands_every_record_once(
    make_adapter, sandbox, method, path
):
    adapter = await make_adapter(bulk_threshold=20, write_batch=1000)
    sandbox.resets.append(Reset(path, 1, "after", method))
    results = await adapter.upsert(Entity.CUSTOMER, accounts(40))
    assert all(r.ok for r in results) and resets(sandbox) == 1
    assert keys(sandbox) == Counter({f"k{i}": 1 for i in range(40)})
    states = Counter(job.state for job in sandbox.bulk_jobs.values())
    assert states["JobComplete"] == 1, states


def test_standalone_the_connection_is_really_dropped():
    sandbox = Sandbox(SandboxOptions(seed_demo_accounts=False))
    listening = bind("127.0.0.1", 0)  # (a port picked free beforehand can be taken meanwhile)
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(sandbox), log_level="critical"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + HANG_SECONDS  # only against a hang
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        sandbox.resets.append(Reset("/services/data", 1, "before"))
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{port}/services/data", timeout=5)
        assert httpx.get(f"http://127.0.0.1:{port}/services/data", timeout=5).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listening.close()
