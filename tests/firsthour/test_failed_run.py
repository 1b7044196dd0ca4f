"""Issue 15 item 4 end to end: a run that fails records why, and `status` shows it.

Everything is real: the shipped config, `connector sync` in a subprocess, and a HubSpot sandbox
that answers the connector's health check but 503 on every search — the call that reads the
CRM's changes — so the run gets past the probe and fails while reading. `status` and
`status --json` must then name the error, the system and the step, and the sync must exit 1
(the work could not run, for a reason outside the user's hands: README "Using it").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.erp_generic.sample import create_sample_erp
from tests.e2e.conftest import Sandbox
from tests.firsthour.conftest import Folder, fresh_clone

SEARCH = "/crm/v3/objects/companies/search"


@pytest.fixture
def failing_search(tmp_path: Path, hubspot: Sandbox) -> Iterator[Folder]:
    folder = fresh_clone(tmp_path / "failing")
    create_sample_erp(folder.path / "demo" / "erp.db", customers=2, contacts=0, orders=0)
    config = folder.path / "config.yaml"
    # One attempt per call, so the run gives up at once instead of backing off for a minute.
    text = config.read_text().replace(
        "      auth:\n        kind: token",
        "      limits: {max_attempts: 1}\n      auth:\n        kind: token",
    )
    config.write_text(text)
    folder.env["HUBSPOT_BASE_URL"] = hubspot.url
    switches = f"{hubspot.url}/_sandbox/switches"
    down = {"faults": {"unavailable": 1.0}, "fault_paths": [SEARCH]}
    httpx.patch(switches, json=down, timeout=10).raise_for_status()
    yield folder
    up = {"faults": {"unavailable": 0.0}, "fault_paths": []}
    httpx.patch(switches, json=up, timeout=10).raise_for_status()


def test_a_run_that_fails_while_reading_says_where_in_status(failing_search: Folder):
    sync = failing_search.run("sync", "crm-to-erp", "-e", "customer")
    assert sync.returncode == 1, sync.stdout + sync.stderr
    assert "503" in sync.stderr

    document = json.loads(failing_search.run("status", "--json").stdout)
    run = document["runs"][0]
    assert run["route"] == "crm-to-erp" and run["status"] == "failed"
    error = run["error"]
    assert error["system"] == "crm" and error["step"] == "read customer changes"
    assert SEARCH in error["message"] and "503" in error["message"]

    text = failing_search.run("status").stdout
    assert "failed in crm, read customer changes: " in text
    assert SEARCH in text
